"""Does a 10,000-device simulated fleet run at its nominal rate next to the hub on a small machine?

    cd /work/main && .venv/bin/python -m device_simulators.measure_fleet [--seconds 120] [--shared 4]

It sets up what the ingest benchmark sets up, with the same helpers (tests/support/): a fresh database
in the private TimescaleDB cluster, a private Mosquitto, and the hub as its own process with the default
rule pack and the `loadgen` account. It writes a site file with `--devices` devices across 8
communities, registers them with one COPY (through the API, every device would cost a PBKDF2 password
hash and an auth-file rewrite), runs `hub-sim run --shared N` at speed 1 as its own process, waits
until the hub has stored what was sent, and prints one JSON line. Everything it started is stopped and
the database dropped.

- `nominal_msgs_per_s`: telemetry the models owe at their reporting intervals (events come on top);
  `sent_msgs_per_s`: telemetry and events the simulator published over `--seconds`, all with QoS 1
  (`unacknowledged` of them without a PUBACK); `stored_msgs_per_s`: of them, rows in the hypertables.
- `lost`: acknowledged by the broker but not stored (distinct (device, time, seq) keys).
- `rate_10s_min` / `rate_10s_max`: the simulator's own 10-second rates: a steady fleet keeps both
  near the nominal rate.
- CPU figures are the share of one core, measured from /proc over the steady part of the run (after
  connecting and announcing every device online, before announcing them offline); `hub_rss_mb` is the
  hub's peak. `machine_busy_before_pct` shows what else ran on the machine before the fleet started.
- `alerts`: alerts the default rule pack raised on the fleet's ordinary day, by rule.
"""

import argparse
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from bench import procstat
from bench.fleet import Device, register
from bench.ingest import HOST, _count_rows, _tables
from device_simulators import site
from device_simulators.fleet import INTERVAL_S
from hub.store.migrations import migrate
from tests.support.processes import HubProcess
from tests.support.services import Broker, create_database, drop_database

COMMUNITIES, GRIDS, BUILDINGS = 8, 5, 10
PER_BUILDING = {"smoke_detectors": 12, "access_gates": 2}
PER_GRID = {"lampposts": 70, "manholes": 40}
"""250 devices a grid, 40 grids: 10,000 devices, about half of them smoke detectors."""
WARM_UP_S = 15.0
STATUS_RATE = re.compile(r"\s([\d.]+) msg/s\s")
SUMMARY = re.compile(
    r"published \d+ message\(s\) \((\d+) telemetry, (\d+) event, (\d+) status\), (\d+) acknowledged"
)

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[fleet {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


PER_GRID_DEVICES = BUILDINGS * sum(PER_BUILDING.values()) + sum(PER_GRID.values())


def site_file(path: Path, devices: int) -> site.SiteSpec:
    """A site of `devices` devices (a multiple of PER_GRID_DEVICES): whole grids of the same make-up,
    filling the communities one after another."""
    grids_needed = devices // PER_GRID_DEVICES
    communities = []
    for c in range(COMMUNITIES):
        cid = f"fleet-c{c + 1:02d}"
        grids = []
        for g in range(GRIDS):
            if c * GRIDS + g >= grids_needed:
                break
            grids.append(
                {
                    "id": f"g{g + 1}",
                    "buildings": [{"id": f"g{g + 1}b{b + 1:02d}", **PER_BUILDING} for b in range(BUILDINGS)],
                    **PER_GRID,
                }
            )
        if grids:
            communities.append({"id": cid, "name": f"Fleet community {c + 1}", "grids": grids})
    spec = {
        "street_office": "fleet",
        "latitude": 31.23,
        "longitude": 121.47,
        "timezone": "Asia/Shanghai",
        "communities": communities,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return site.load(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m device_simulators.measure_fleet", description=__doc__)
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=120.0, help="how long the fleet runs (default 120)")
    p.add_argument("--shared", type=int, default=4, help="loadgen connections (default 4)")
    p.add_argument("--drain-timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    if args.seconds <= 2 * WARM_UP_S:
        p.error(f"--seconds must exceed {2 * WARM_UP_S:g}")
    most = COMMUNITIES * GRIDS * PER_GRID_DEVICES
    if args.devices % PER_GRID_DEVICES or not 0 < args.devices <= most:
        p.error(f"--devices must be a multiple of {PER_GRID_DEVICES} up to {most}")
    with ExitStack() as stack:
        report = measure(args, stack)
        log("cleaning up: simulator, hub, broker, database")
    print(json.dumps(report), flush=True)
    return 0 if report["lost"] == 0 else 1


def measure(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fleet-measure-"))
    stack.callback(shutil.rmtree, workdir, True)
    spec = site_file(workdir / "site.yaml", args.devices)
    devices = site.devices(spec)
    site_path = workdir / "site.yaml"

    name, url = create_database()
    stack.callback(drop_database, name)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        register(conn, [Device(d.id, d.kind, d.community, d.building, d.grid) for d in devices])
    nominal = sum(1 / INTERVAL_S[d.kind] for d in devices)
    kinds = Counter(d.kind for d in devices)
    log(f"registered {len(devices)} devices ({dict(kinds)}), nominal {nominal:.1f} telemetry msg/s")

    broker = Broker()
    stack.callback(broker.cleanup)
    broker.start()
    password = secrets.token_urlsafe(16)
    hub = HubProcess(url, broker, workdir, HUB_MQTT_LOADGEN_PASSWORD=password, HUB_BATCH_MAX_DELAY_MS="50")
    stack.callback(hub.stop)
    hub.start(timeout=60)
    assert hub.proc is not None
    hub_pid = hub.proc.pid
    log(f"hub pid {hub_pid} subscribed (default rules), broker on :{broker.port}")

    idle = procstat.machine_cpu()
    time.sleep(2.0)
    busy_before = procstat.machine_cpu().busy_pct_since(idle)

    cmd = [sys.executable, "-m", "device_simulators.cli", "run", "--site", str(site_path)]
    cmd += ["--shared", str(args.shared), "--loadgen-password", password, "--mqtt-port", str(broker.port)]
    cmd += ["--mqtt-host", HOST, "--speed", "1", "--seconds", str(args.seconds)]
    stderr_path = workdir / "hub-sim.err"
    with stderr_path.open("w") as err:
        sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)  # noqa: S603 - our own argv
    stack.callback(_stop, sim)
    started = time.monotonic()
    log(f"hub-sim run --shared {args.shared} for {args.seconds:g} s (pid {sim.pid})")

    time.sleep(WARM_UP_S)
    hub0, sim0, machine0 = (
        procstat.cpu_seconds(hub_pid),
        procstat.cpu_seconds(sim.pid),
        procstat.machine_cpu(),
    )
    at0 = time.monotonic()
    time.sleep(max(0.0, started + args.seconds - time.monotonic()))
    hub1, sim1, machine1 = (
        procstat.cpu_seconds(hub_pid),
        procstat.cpu_seconds(sim.pid),
        procstat.machine_cpu(),
    )
    window = time.monotonic() - at0
    out, _ = sim.communicate(timeout=120)
    if sim.returncode != 0:
        raise RuntimeError(f"hub-sim exited with {sim.returncode}:\n{out}\n{stderr_path.read_text()}")
    found = SUMMARY.search(out)
    if found is None:
        raise RuntimeError(f"no summary from hub-sim:\n{out}")
    telemetry, events, statuses, acked = (int(x) for x in found.groups())
    sent = telemetry + events
    unacknowledged = sent + statuses - acked
    rates = [float(m.group(1)) for m in STATUS_RATE.finditer(stderr_path.read_text())]
    steady = rates[1:-1]  # the first takes in the online announcements, the last is a part-window
    log(f"hub-sim: {out.strip()}")

    with psycopg.connect(url, autocommit=True) as conn:
        stored = _drain(conn, sent, args.drain_timeout)
        distinct = _distinct_keys(conn)
        alerts: dict[str, int] = dict(
            conn.execute("SELECT rule_id, count(*) FROM alerts GROUP BY rule_id").fetchall()
        )
    hub_rss_mb = procstat.peak_rss_mb(hub_pid)
    return {
        "devices": len(devices),
        "seconds": args.seconds,
        "connections": args.shared,
        "nominal_msgs_per_s": round(nominal, 1),
        "sent_msgs_per_s": round(sent / args.seconds, 1),
        "sent_telemetry_msgs_per_s": round(telemetry / args.seconds, 1),
        "sent_events": events,
        "rate_10s_min": min(steady, default=None),
        "rate_10s_max": max(steady, default=None),
        "stored_msgs_per_s": round(stored / args.seconds, 1),
        "sent": sent,
        "unacknowledged": unacknowledged,
        "stored": stored,
        "lost": max(0, sent - unacknowledged - distinct),
        "hub_cpu_pct": round(100 * (hub1 - hub0) / window, 1),
        "hub_rss_mb": round(hub_rss_mb, 1),
        "sim_cpu_pct": round(100 * (sim1 - sim0) / window, 1),
        "machine_busy_pct": round(machine1.busy_pct_since(machine0), 1),
        "machine_busy_before_pct": round(busy_before, 1),
        "alerts": sum(alerts.values()),
        "alerts_by_rule": alerts,
    }


def _drain(conn: psycopg.Connection[Any], expected: int, timeout_s: float) -> int:
    """Stored rows once they reach `expected` or stop growing for a few seconds."""
    deadline = time.monotonic() + timeout_s
    count, steady_since = _count_rows(conn), time.monotonic()
    while count < expected and time.monotonic() < deadline and time.monotonic() - steady_since < 5:
        time.sleep(0.5)
        now = _count_rows(conn)
        if now != count:
            count, steady_since = now, time.monotonic()
    return count


def _distinct_keys(conn: psycopg.Connection[Any]) -> int:
    total = 0
    for t in _tables():
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT DISTINCT device_id, time, seq FROM {}) AS k").format(t)
        ).fetchone()
        total += int(row[0]) if row else 0
    return total


def _stop(proc: "subprocess.Popen[str]") -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
