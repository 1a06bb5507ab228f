"""The `hub-sim` command: provision a site in the hub, run its fleet, play and verify scenarios, inject
faults."""

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paho.mqtt.enums import MQTTProtocolVersion

from device_simulators import fleet, player, scenarios, site
from device_simulators.faults import FAULTS, FaultContext
from device_simulators.models import build
from device_simulators.mqtt import (
    Connection,
    Counters,
    LinkError,
    Pacer,
    Sender,
    Transport,
    per_device,
    shared,
    topic,
)
from device_simulators.scenarios import SCENARIOS, Drop, ScenarioError
from device_simulators.status import StatusLine
from device_simulators.verify import ApiError, HubApi, HubClock, observe, report, silence_wait_s, verify
from hub.broker.failover import Address, parse_addresses

DEFAULT_SITE = Path(__file__).parent / "sites" / "demo.yaml"
CONNECT_TIMEOUT_S = 15.0


class UsageError(ValueError):
    """The command cannot run as asked: reported in one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        print(_listing())
        return 0
    spec = site.load(args.site)
    devices = site.devices(spec)
    try:
        if args.command == "provision":
            return _provision(args, devices)
        if args.command == "run":
            return _run(args, spec, devices)
        if args.command == "fault":
            return _fault(args, spec, devices)
        return _scenario(args, spec, devices)
    except (UsageError, ScenarioError, ApiError, LinkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub-sim", description="Device simulators for the smart-community hub")
    sub = p.add_subparsers(dest="command", required=True)

    def files(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--site", type=Path, default=DEFAULT_SITE)
        sp.add_argument("--credentials", type=Path, default=Path("sim-credentials.json"))

    def api(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--api", default="http://127.0.0.1:8000")
        sp.add_argument("--admin-user", default="admin", help="password from $HUB_ADMIN_PASSWORD")

    def broker(sp: argparse.ArgumentParser) -> None:
        files(sp)
        sp.add_argument("--mqtt-host", default=os.environ.get("HUB_SIM_MQTT_HOST", "127.0.0.1"))
        sp.add_argument("--mqtt-port", type=int, default=int(os.environ.get("HUB_SIM_MQTT_PORT", "1884")))
        sp.add_argument(
            "--mqtt-hosts",
            type=_addresses,
            default=os.environ.get("HUB_SIM_MQTT_HOSTS", ""),
            help="the nodes of a clustered broker, host:port,host:port (replaces --mqtt-host/--mqtt-port)",
        )
        sp.add_argument(
            "--loadgen-password",
            help="publish as the hub's loadgen account instead of each device's own (e.g. \"$HUB_MQTT_LOADGEN_PASSWORD\")",
        )
        sp.add_argument("--qos", type=int, choices=(0, 1), default=1)
        sp.add_argument("--rate", type=float, default=None, help="at most this many messages per second")
        sp.add_argument("--seed", type=int, default=1, help="same seed and clock, same payloads")

    def incident(sp: argparse.ArgumentParser, compress: float) -> None:
        broker(sp)
        sp.add_argument("name", choices=sorted(SCENARIOS))
        sp.add_argument("--community", help="default: the site's first")
        sp.add_argument("--building")
        sp.add_argument("--grid")
        sp.add_argument("--device", action="append", default=[], help="play on this device (repeatable)")
        sp.add_argument("--kind", help="device kind, for scenarios that play on several")
        sp.add_argument("--count", type=int, help="how many devices")
        sp.add_argument("--steps", type=int, help="number of readings (default: the scenario's)")
        sp.add_argument("--step-seconds", type=float, help="device seconds between readings")
        sp.add_argument(
            "--compress",
            type=float,
            default=compress,
            help="device time runs this many times faster than the clock",
        )

    files(prov := sub.add_parser("provision", help="register the site's devices through the hub API"))
    api(prov)

    run = sub.add_parser("run", help="run the fleet")
    broker(run)
    run.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)"
    )
    run.add_argument(
        "--speed", type=float, default=1.0, help="publish this many times more often than real devices"
    )
    run.add_argument(
        "--shared", type=int, default=None, metavar="N", help="N loadgen connections for all devices"
    )

    incident(sub.add_parser("scenario", help="play a scenario"), compress=1.0)
    ver = sub.add_parser("verify", help="play a scenario against a hub and check its alerts through the API")
    incident(ver, compress=60.0)
    api(ver)
    ver.add_argument(
        "--timeout", type=float, default=20.0, help="seconds to wait for alerts after the last reading"
    )
    ver.add_argument(
        "--margin",
        type=float,
        default=30.0,
        help="absence rules (device-offline) run on the hub's clock: real seconds their alert may take "
        "beyond the rule's period, as GET /api/v1/rules reports it, after the device's last message",
    )

    fault = sub.add_parser("fault", help="send bad input on purpose")
    broker(fault)
    fault.add_argument("name", choices=sorted(FAULTS))
    fault.add_argument("--community", help="default: the site's first")
    fault.add_argument("--device", help="the misbehaving device (default: the community's first)")
    fault.add_argument("--victim", help="foreign-topic: whose topic to publish on")
    fault.add_argument("--count", type=int, help="messages, for faults that send several")

    sub.add_parser("list", help="list the scenarios (with their expected alerts) and faults")
    return p


def _community(args: argparse.Namespace, spec: site.SiteSpec) -> str:
    community: str = args.community or spec.communities[0].id
    return community


def _addresses(text: str) -> list[Address]:
    try:
        return parse_addresses(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _broker(args: argparse.Namespace) -> list[Address]:
    hosts: list[Address] = args.mqtt_hosts
    return hosts or [(args.mqtt_host, args.mqtt_port)]


def _transport(
    args: argparse.Namespace, devices: list[site.SimDevice], *, role: str, wills: frozenset[str] = frozenset()
) -> tuple[Transport, Counters]:
    counters = Counters()
    if args.loadgen_password:
        connections = getattr(args, "shared", None) or 1
        transport = shared(
            devices,
            args.loadgen_password,
            _broker(args),
            connections=connections,
            counters=counters,
            wills=wills,
        )
    else:
        if getattr(args, "shared", None):
            raise UsageError("--shared publishes as loadgen: give --loadgen-password")
        transport = per_device(
            devices,
            _credentials(args.credentials),
            _broker(args),
            role=role,
            counters=counters,
            wills=wills,
        )
    transport.wait_connected(CONNECT_TIMEOUT_S + len(devices) / 200)
    return transport, counters


def _credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        raise UsageError(f"no credentials file {path}: run `hub-sim provision`, or use --loadgen-password")
    creds: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return creds


def _run(args: argparse.Namespace, spec: site.SiteSpec, devices: list[site.SimDevice]) -> int:
    models = [build(d, args.seed, spec.place()) for d in devices]
    transport, counters = _transport(args, devices, role="device")
    sender = Sender(transport, qos=args.qos, pacer=Pacer(args.rate))
    status = StatusLine(transport, counters, sys.stderr)
    status.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.loadgen_password:
        fleet.announce(models, sender, "online")
    with contextlib.suppress(KeyboardInterrupt):
        fleet.run(models, sender, seconds=args.seconds, speed=args.speed, stop=stop)
    fleet.announce(models, sender, "offline")
    status.stop()
    transport.close()
    channels = ", ".join(f"{sender.by_channel[c]} {c}" for c in ("telemetry", "event", "status"))
    print(
        f"published {counters.sent} message(s) ({channels}), {counters.acked} acknowledged, "
        f"{counters.errors} error(s)"
    )
    return 0


def _scenario(args: argparse.Namespace, spec: site.SiteSpec, devices: list[site.SimDevice]) -> int:
    scenario = SCENARIOS[args.name]
    cast = scenarios.cast(
        scenario,
        devices,
        community=_community(args, spec),
        building=args.building,
        grid=args.grid,
        device_ids=tuple(args.device),
        kind=args.kind,
        count=args.count,
    )
    plan = scenarios.plan(scenario, cast, seed=args.seed, steps=args.steps, interval_s=args.step_seconds)
    steps = scenario.script(plan)
    player.check_ahead(steps, args.compress)
    hub, before, hub_clock = None, frozenset[int](), HubClock({}, 0.0)
    if args.command == "verify":
        password = os.environ.get("HUB_ADMIN_PASSWORD")
        if not password:
            raise UsageError("set HUB_ADMIN_PASSWORD")
        hub = HubApi(args.api)
        hub.login(args.admin_user, password)
        before = frozenset(a.alert_id for a in observe(hub, cast))
        hub_clock = HubClock(hub.absence_periods(), args.margin)
    wills = frozenset(a.device.id for s in steps for a in s.actions if isinstance(a, Drop))
    transport, counters = _transport(args, list(cast.targets), role="scenario", wills=wills)
    status = StatusLine(transport, counters, sys.stderr)
    if status.tty:
        status.start()
    models = {d.id: build(d, args.seed, spec.place()) for d in cast.targets}
    try:
        played = player.play(
            steps, models, Sender(transport, qos=args.qos, pacer=Pacer(args.rate)), compress=args.compress
        )
    finally:
        if status.tty:
            status.stop()
        transport.close()
    targets = ", ".join(d.id for d in cast.targets)
    print(
        f"scenario {scenario.name}: {played.messages - played.unacknowledged} message(s) acknowledged by the broker "
        f"({targets}; device time {played.started.isoformat()} to {played.finished.isoformat()})"
    )
    if played.unacknowledged:
        print(f"error: {played.unacknowledged} message(s) not acknowledged by the broker", file=sys.stderr)
        return 1
    if hub is None:
        return 0
    wait = silence_wait_s(scenario, cast, played, hub_clock, datetime.now(UTC))
    if wait > args.timeout:
        print(
            f"waiting up to {wait:.0f} s: absence rules run on the hub's clock, from each device's last message",
            file=sys.stderr,
        )
    outcomes = verify(hub, scenario, cast, played, before, hub_clock, timeout_s=args.timeout)
    print(report(scenario, outcomes))
    return 1 if any(o.verdict == "fail" for o in outcomes) else 0


def _fault(args: argparse.Namespace, spec: site.SiteSpec, devices: list[site.SimDevice]) -> int:
    fault = FAULTS[args.name]
    community = _community(args, spec)
    local = [d for d in devices if d.community == community]
    by_id = {d.id: d for d in local}
    if not local or (args.device and args.device not in by_id) or (args.victim and args.victim not in by_id):
        raise UsageError(f"--device and --victim must be devices of community {community}")
    device = by_id[args.device] if args.device else local[0]
    others = sorted((d for d in local if d.id != device.id), key=lambda d: d.kind != device.kind)
    victim = by_id[args.victim] if args.victim else (others[0] if others else device)
    place = spec.place()
    ctx = FaultContext(
        build(device, args.seed, place),
        build(victim, args.seed, place),
        datetime.now(UTC),
        args.count or fault.count,
    )
    messages = fault.build(ctx)
    if args.name == "foreign-topic":
        return _foreign_topic(args, device, messages[0].device, messages[0].body)
    transport, _ = _transport(args, [device], role="fault")
    sender = Sender(transport, qos=args.qos, pacer=Pacer(args.rate))
    infos = []
    for m in messages:
        infos.append(sender.send(device, m.channel, m.body))
        print(f"{topic(m.device, m.channel)} ({len(m.body)} B): {m.expectation()}")
    for info in infos:
        info.wait_for_publish(10)
    transport.close()
    return 0


def _foreign_topic(
    args: argparse.Namespace, device: site.SimDevice, victim: site.SimDevice, body: bytes
) -> int:
    """Publish with MQTT 5, whose PUBACK carries the broker's verdict, so the refusal can be seen here
    (with MQTT 3.1.1 a broker acknowledges a refused publish like any other)."""
    if args.loadgen_password:
        raise UsageError("foreign-topic needs the device's own credentials: loadgen may publish anywhere")
    password = _credentials(args.credentials).get(device.id)
    if password is None:
        raise UsageError(f"no credentials for {device.id}: run `hub-sim provision`")
    conn = Connection(
        f"fault-{device.id}",
        device.id,
        password,
        _broker(args),
        counters=Counters(),
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    if not conn.answered.wait(CONNECT_TIMEOUT_S) or not conn.connected.is_set():
        raise UsageError(f"{device.id} could not connect ({conn.refused or 'no answer'})")
    target = topic(victim, "telemetry")
    info = conn.publish(target, body, qos=1)
    info.wait_for_publish(10)
    conn.close()
    refusal = conn.rejected.get(info.mid)
    if refusal:
        print(f"{device.id} publishing on {target}: refused by the broker ({refusal})")
        return 0
    print(
        f"{device.id} publishing on {target}: ACCEPTED by the broker: the ACL lets a device speak for another"
    )
    return 1


def _provision(args: argparse.Namespace, devices: list[site.SimDevice]) -> int:
    password = os.environ.get("HUB_ADMIN_PASSWORD")
    if not password:
        print("error: set HUB_ADMIN_PASSWORD", file=sys.stderr)
        return 2
    hub = HubApi(args.api, timeout_s=60)
    hub.login(args.admin_user, password)
    known: dict[str, str] = {}
    if args.credentials.exists():
        known = json.loads(args.credentials.read_text(encoding="utf-8"))
    fresh = [d.registration() for d in devices if d.id not in known]
    kept = [d.registration() for d in devices if d.id in known]
    errors = 0
    for batch, rotate in ((kept, False), (fresh, True)):
        if not batch:
            continue
        result: dict[str, Any] = hub.call(
            "POST", "/devices/import", {"devices": batch, "rotate_credentials": rotate}
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


def _listing() -> str:
    lines = [
        "scenarios (expected alerts: rule severity subject ≤ seconds of device time, or for absence rules"
        " ≤ the rule's period + margin on the hub's clock after the device's last message):"
    ]
    for s in SCENARIOS.values():
        lines.append(f"  {s.name:<16} {s.summary}")
        lines.append(
            f"  {'':<16} on {'/'.join(s.kinds)}, {s.count or 'all'} device(s), "
            f"{s.steps} steps of {s.interval_s:g} s"
        )
        for e in s.expect:
            scope = f" ({e.kind} only)" if e.kind else ""
            within = "period + margin (hub clock)" if e.within_s is None else f"{e.within_s:g} s"
            lines.append(f"  {'':<16}   expect {e.rule_id} {e.severity} {e.subject}{scope} ≤ {within}")
        if s.forbid:
            lines.append(f"  {'':<16}   never  {', '.join(s.forbid)}")
    lines.append("faults:")
    lines += [f"  {f.name:<16} {f.summary}" for f in FAULTS.values()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
