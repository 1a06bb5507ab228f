"""The `hub-sim` command: provision a site in the hub, run its fleet, play scenarios."""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from device_simulators import fleet, site
from device_simulators.scenarios import SCENARIOS

DEFAULT_SITE = Path(__file__).parent / "sites" / "demo.yaml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hub-sim", description="Device simulators for the smart-community hub")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--site", type=Path, default=DEFAULT_SITE)
        sp.add_argument("--credentials", type=Path, default=Path("sim-credentials.json"))

    prov = sub.add_parser("provision", help="register the site's devices through the hub API")
    common(prov)
    prov.add_argument("--api", default="http://127.0.0.1:8000")
    prov.add_argument("--admin-user", default="admin")

    for name, help_text in (("run", "run the fleet"), ("scenario", "play a scenario")):
        sp = sub.add_parser(name, help=help_text)
        common(sp)
        sp.add_argument("--mqtt-host", default=os.environ.get("HUB_SIM_MQTT_HOST", "127.0.0.1"))
        sp.add_argument("--mqtt-port", type=int, default=int(os.environ.get("HUB_SIM_MQTT_PORT", "1884")))
        sp.add_argument("--seed", type=int, default=1)
        if name == "run":
            sp.add_argument(
                "--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C)"
            )
            sp.add_argument(
                "--speed", type=float, default=1.0, help="publish this many times faster than real devices"
            )
        else:
            sp.add_argument("name", choices=sorted(SCENARIOS))
            sp.add_argument("--community", required=True)
            sp.add_argument("--building", required=True)
            sp.add_argument("--steps", type=int, default=5)
            sp.add_argument("--step-seconds", type=float, default=1.0)

    args = p.parse_args(argv)
    spec = site.load(args.site)
    devices = site.devices(spec)
    if args.command == "provision":
        return _provision(args, devices)
    credentials: dict[str, str] = json.loads(args.credentials.read_text(encoding="utf-8"))
    if args.command == "run":
        links = fleet.connect(devices, credentials, args.mqtt_host, args.mqtt_port)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stats = fleet.run(links, seed=args.seed, seconds=args.seconds, speed=args.speed, stop=stop)
        except KeyboardInterrupt:
            stats = None
        for link in links:
            link.close()
        if stats:
            print(f"\npublished {stats.published} message(s), {stats.errors} error(s)")
        return 0
    chosen = [
        d
        for d in devices
        if d.community == args.community and d.building == args.building and d.kind == "smoke_detector"
    ]
    if not chosen:
        print(f"error: no smoke detectors in {args.community}/{args.building}", file=sys.stderr)
        return 2
    links = fleet.connect(chosen, credentials, args.mqtt_host, args.mqtt_port, role="scenario")
    sent = SCENARIOS[args.name](
        links, seed=args.seed, steps=args.steps, step_s=args.step_seconds, sleep=time.sleep
    )
    for link in links:
        link.close()
    print(f"scenario {args.name}: {sent} message(s) acknowledged by the broker")
    return 0


def _provision(args: argparse.Namespace, devices: list[site.SimDevice]) -> int:
    password = os.environ.get("HUB_ADMIN_PASSWORD")
    if not password:
        print("error: set HUB_ADMIN_PASSWORD", file=sys.stderr)
        return 2
    token = _post(f"{args.api}/api/v1/auth/login", {"username": args.admin_user, "password": password})[
        "access_token"
    ]
    known: dict[str, str] = {}
    if args.credentials.exists():
        known = json.loads(args.credentials.read_text(encoding="utf-8"))
    fresh = [d.registration() for d in devices if d.id not in known]
    kept = [d.registration() for d in devices if d.id in known]
    errors = 0
    for batch, rotate in ((kept, False), (fresh, True)):
        if not batch:
            continue
        result = _post(
            f"{args.api}/api/v1/devices/import", {"devices": batch, "rotate_credentials": rotate}, token
        )
        for row in result["rows"]:
            if row["status"] == "error":
                errors += 1
                print(f"row {row['row']} ({row['id']}): {row['error']}", file=sys.stderr)
            elif row.get("mqtt_password"):
                known[row["id"]] = row["mqtt_password"]
    args.credentials.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.credentials.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(args.credentials)
    print(f"provisioned {len(devices)} device(s) ({len(fresh)} new credentials), {errors} error(s)")
    return 1 if errors else 0


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - URL is the operator's hub
            result: dict[str, Any] = json.loads(resp.read())
            return result
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None


if __name__ == "__main__":
    sys.exit(main())
