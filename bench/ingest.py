"""Ingest benchmark: how many messages a second the hub stores, at what CPU and memory, losing none.

    cd /work/main && .venv/bin/python -m bench.ingest --devices 10000 --seconds 60 \\
        [--rate 10000] [--qos 1] [--publishers 3] [--connections 1] [--no-rules] [--workers 1,2] [--mqtt5]
        [--broker mosquitto,rabbitmq-cluster]
    cd /work/main && .venv/bin/python -m bench.ingest --drain 200000 [--no-rules]

It sets up what the tests set up (a fresh database in the private TimescaleDB cluster, migrated; a
private Mosquitto rendered from deploy/mosquitto/mosquitto.conf), registers the fleet with one COPY,
starts the hub as its own process (`python -m hub run`, as in production) with the `loadgen` broker
account enabled, and publishes from `--publishers` separate processes, because the generator must not
be the bottleneck it is measuring. Everything it started is stopped and the database dropped at the
end, also on Ctrl-C or an error. Progress goes to stderr; the result is one JSON line on stdout.

Definitions (all counts include the probe messages, which are ordinary readings):

- `sent`: messages whose PUBACK arrived (at QoS 0: messages written to the socket). Only these are
  the broker's responsibility, so only these can be "lost".
- `stored`: rows in all telemetry and event hypertables; `distinct_keys`: distinct
  (device_id, time, seq) per table, counted with GROUP BY.
- `lost` = max(0, sent − distinct_keys); `duplicated` = stored − distinct_keys (the unique indexes
  should make it 0; checked anyway, since an index change could silently break exactly-once).
- `msgs_per_s` = stored / (max(received_at) − min(received_at)): the rate of committed data from
  the hub's first receive to its last, which includes draining any backlog after publishing ends.
  It can only reach `--rate` when the hub keeps up; raise `--rate` to find the ceiling.
- `p50_ingest_ms` / `p99_ingest_ms`: percentiles of (received_at − time) over stored rows: payload
  `ts` is the publish time, so this is publish → hub callback (broker hop and MQTT queueing; when the
  hub falls behind, the broker holds the backlog and this grows). Not commit latency.
- `p50_commit_ms` / `p99_commit_ms`: from a probe (bench/probe.py) that publishes one reading a
  second and polls the database every 5 ms: publish → visible to another session's query, i.e.
  broker + hub queue + batch wait + commit. About `seconds` samples, so p99 is near the maximum.
- `hub_cpu_us_per_msg`: user + system CPU of the hub process (/proc/<pid>/stat) from just before
  the first publish to the moment the last row was seen committed, divided by `stored`. The same
  window gives `broker_cpu_us_per_msg`, `db_cpu_us_per_msg` (every process of the PostgreSQL
  cluster seen, its list read every second, so a backend living less than that is missed),
  `loadgen_cpu_us_per_msg` and `machine_cpu_busy_pct`, to show where a small machine's
  CPU goes.
- `hub_cpu_us_per_msg_by_thread`: the same window's hub CPU a message per thread, by the name the hub
  gives its ingest threads for the operating system (`ingest-pipeline`, `ingest-writer`,
  `ingest-mqtt`); threads it does not name (API, scheduler, notifications) count together under the
  program's name. Read from /proc/<pid>/task, so a thread that ended within the window is left out.
- `hub_rss_mb`: the hub's VmHWM (peak resident set since it started), read before it is stopped; with
  several workers, the largest of them. With several workers `hub_cpu_us_per_msg` is their sum.
- `host`: the processor (/proc/cpuinfo's model name, family, model, MHz) and its cores: hosts of one
  machine kind differ by more than twice in speed, so a figure is read with the host it came from
  (`bench.peer` and `bench.pairs` report it too).
- `--broker rabbitmq-cluster` runs on a 3-node RabbitMQ cluster (scripts/rabbitmq-cluster, quorum-queue
  sessions, auth through the first hub's broker-auth endpoint) instead of Mosquitto: the hub gets
  `HUB_MQTT_HOSTS`, publisher i connects to node i mod 3, and `broker_cpu_us_per_msg` sums the three
  nodes. Its auth answers are cached 10 minutes (see AUTH_CACHE_MS), so after each topic's first publish
  the figures are the broker's and the hub's, not the auth endpoint's. A comma list
  (`mosquitto,rabbitmq-cluster`) runs each in turn, so both come from the same run. Drain mode runs on
  Mosquitto only.
- `--workers 1,2` runs the whole benchmark once per count, each on a fresh database and broker with one
  ingest partition per worker (`--partitions` to change it); each run prints its JSON line, and the last
  line compares them.
- `machine_busy_before_pct`: how busy the machine was in the second before publishing, with the hub
  idle. Anything well above a few percent means something else (a test run restarting the shared
  PostgreSQL, say) competes for the two cores, and the numbers are not comparable.

**Drain mode** (`--drain N`): the hub starts once (so its persistent sessions and subscriptions exist
at the broker) and is stopped; the publishers then queue N messages of the same device mix at QoS 1
(`--rate`, default 10,000 msg/s) for its sessions, which the broker holds (`max_queued_messages` in
deploy/mosquitto/mosquitto.conf allows 2,000,000); then the hub is started again and drains them.
Start-up is excluded: the window opens at the hub's first receive (min(received_at) of the stored rows,
the hub's wall clock, on the same machine as the benchmark's) and closes when the final count is first
seen (polled every 0.2 s). CPU at the window's opening is interpolated from /proc samples taken every
20 ms. Its JSON reports `drain_msgs_per_s` (stored / window), `hub_cpu_us_per_msg` and
`db_cpu_us_per_msg` over the window, `receive_msgs_per_s` (stored / span of received_at: how fast the
hub's MQTT client took the backlog into its bounded queue, not how fast it committed it),
the PostgreSQL figure sums every process of the cluster seen during the run (its process list is read
every second; a backend that exits keeps the CPU it had used), `hub_rss_mb`, and `lost` / `duplicated`
checked against the database as in the paced mode. The row-count polls run in PostgreSQL and are
counted in its CPU.

**Alert latency** (paced mode): beside the load and the commit probe, an alarm probe publishes one smoke
alarm a second, each from a detector of its own (own community, building and grid, so no storm or
correlation folds them; `fire` never folds), and polls every 5 ms for the case holding it:
`p50_alert_ms` / `p99_alert_ms` are publish → case visible to another session (committed), both ends
measured on the benchmark's monotonic clock; `alert_ms_each` lists every probe's in the order seen,
so a stall at start-up can be told from a tail spread over the run.

`--profile FILE` runs `py-spy record --threads --nonblocking --format raw` on the hub for the publishing
window (in drain mode: from the hub's start to the end of the drain) (py-spy: `.venv/bin/pip install py-spy`). Sampling costs the hub some CPU, so take throughput
and CPU figures from a run without it.

The hub is measured from outside only (/proc and the database): it may have no /metrics endpoint,
and instrumentation inside it would change what is measured.
"""

import argparse
import json
import math
import multiprocessing as mp
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from bench import procstat
from bench.fleet import Device, alarm_devices, fleet, probe_device, register
from bench.loadgen import ACK_GRACE_S, OVERRUN_S, WorkerResult, WorkerSpec, drain_events, run_worker
from bench.probe import AlertProbe, Probe
from bench.sampler import CpuSampler, Measured, Snapshot
from hub.devices.service import LOADGEN_USER
from hub.ingest.partitions import fair_share
from hub.store.migrations import migrate
from hub.store.telemetry import ALL_TABLES
from tests.support.cluster import RabbitCluster
from tests.support.processes import HubProcess
from tests.support.services import Broker, create_database, drop_database

PREFIX = "sc/v1"
HOST = "127.0.0.1"
PROGRESS_EVERY_S = 5.0
DRAIN_POLL_S = 0.5
DRAIN_MODE_POLL_S = 0.2
BUSY_WARN_PCT = 10.0
BROKERS = ("mosquitto", "rabbitmq-cluster")
AUTH_CACHE_MS = 600_000
"""RabbitMQ 3.10 remembers only a connection's last 12 topic checks, so the loadgen account, publishing
for thousands of devices, needs the auth cache for nearly every publish: a long one keeps the hub's
auth endpoint (measured by bench.broker_auth) out of the broker's throughput after the first pass."""
ALARM_SPARE = 10
"""Alarm probe devices beyond one per second of publishing: each alarms once."""

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--devices", type=int, default=10_000, help="registered devices publishing (default 10000)"
    )
    p.add_argument("--seconds", type=float, default=60.0, help="publishing time (default 60)")
    p.add_argument("--rate", type=float, default=10_000.0, help="target msgs/s over all publishers")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    p.add_argument("--publishers", type=int, default=3, help="load generator processes (default 3)")
    p.add_argument("--connections", type=int, default=1, help="MQTT connections per publisher (default 1)")
    p.add_argument("--no-rules", action="store_true", help="run the hub with an empty rule set")
    p.add_argument(
        "--workers",
        default="1",
        help="hub workers; a comma list (1,2) runs each count in turn on a fresh stack (default 1)",
    )
    p.add_argument("--partitions", type=int, help="HUB_INGEST_PARTITIONS (default: one per worker)")
    p.add_argument(
        "--mqtt5",
        action="store_true",
        help="the hub subscribes with MQTT 5 (clean start off, session expiry)",
    )
    p.add_argument(
        "--batch-delay-ms", type=int, default=50, help="HUB_BATCH_MAX_DELAY_MS (default 50, the hub's own)"
    )
    p.add_argument("--drain-timeout", type=float, default=240.0, help="max wait for the hub to catch up")
    p.add_argument("--settle", type=float, default=5.0, help="row count unchanged this long = drained")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--broker",
        default="mosquitto",
        help="mosquitto or rabbitmq-cluster; a comma list runs each in turn (default mosquitto)",
    )
    p.add_argument(
        "--drain",
        type=int,
        default=0,
        metavar="N",
        help="drain mode: queue N messages for the stopped hub's sessions, then start it and time the drain",
    )
    p.add_argument(
        "--profile",
        type=Path,
        help="record the hub with py-spy during publishing into this file (collapsed stacks, --threads)",
    )
    p.add_argument("--profile-idle", action="store_true", help="include waiting threads in the profile")
    args = p.parse_args(argv)
    if args.devices < args.publishers * args.connections:
        p.error("need at least one device per connection")
    if args.drain < 0:
        p.error("--drain must not be negative")
    args.brokers = args.broker.split(",")
    unknown = set(args.brokers) - set(BROKERS)
    if unknown:
        p.error(f"--broker: unknown {', '.join(sorted(unknown))}; choose from {', '.join(BROKERS)}")
    if args.drain and args.brokers != ["mosquitto"]:
        p.error("--drain runs on Mosquitto only")
    if min(args.seconds, args.rate, args.publishers, args.connections) <= 0:
        p.error("--seconds, --rate, --publishers and --connections must be positive")
    try:
        args.worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error("--workers takes whole numbers separated by commas, e.g. 1,2")
    if min(args.worker_counts) <= 0:
        p.error("--workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    reports = []
    runs = [(b, w) for b in args.brokers for w in args.worker_counts]
    for broker_kind, workers in runs:
        stack = ExitStack()
        try:
            reports.append(run(args, stack, workers, broker_kind))
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        except psycopg.OperationalError as exc:
            # The cluster is shared with the test suite, which restarts PostgreSQL on purpose.
            log(f"lost the database ({exc}); was PostgreSQL restarted by another process? No result.")
            return 1
        finally:
            # A second Ctrl-C must not leave a broker, a hub or a database behind.
            handlers = (
                signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.signal(signal.SIGTERM, signal.SIG_IGN),
            )
            log("cleaning up: publishers, hubs, broker, database")
            try:
                stack.close()
            except Exception as exc:
                # The measurement is complete; a failed clean-up is reported, not allowed to hide it.
                log(f"clean-up failed: {exc!r}")
            signal.signal(signal.SIGINT, handlers[0])
            signal.signal(signal.SIGTERM, handlers[1])
        if len(runs) > 1:
            print(json.dumps(reports[-1]), flush=True)
    if len(reports) == 1:
        print(json.dumps(reports[0]), flush=True)
    else:
        keys = ("msgs_per_s", "lost", "duplicated", "hub_cpu_us_per_msg", "hub_rss_mb", "p99_commit_ms")
        print(
            json.dumps({f"{r['broker']}/{r['workers']}": {k: r[k] for k in keys} for r in reports}),
            flush=True,
        )
    return 0


def run(args: argparse.Namespace, stack: ExitStack, workers: int, broker_kind: str) -> dict[str, Any]:
    name, url = create_database()
    stack.callback(drop_database, name)
    log(f"database {name}: migrating")
    migrate(url)
    devices = fleet(args.devices)
    probe_dev = probe_device()
    alarmers = alarm_devices(math.ceil(args.seconds) + ALARM_SPARE)
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        register(conn, [*devices, probe_dev, *alarmers])
    log(
        f"registered {len(devices)} devices (+1 probe, {len(alarmers)} alarm probes) in {time.monotonic() - started:.2f}s: {mix(devices)}"
    )

    broker: Broker | None = None
    cluster: RabbitCluster | None = None
    if broker_kind == "mosquitto":
        broker = Broker()
        stack.callback(broker.cleanup)
        broker.start()
        ports = [broker.port]
        target: Broker | RabbitCluster = broker
    else:
        cluster = RabbitCluster(auth_cache_ms=AUTH_CACHE_MS)
        stack.callback(cluster.cleanup)
        log("starting a 3-node RabbitMQ cluster")
        cluster.start()
        log(f"cluster formed in {cluster.start_s:.0f}s")
        ports = [n.mqtt_port for n in cluster.nodes]
        target = cluster
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    stack.callback(shutil.rmtree, workdir, True)
    loadgen_pw = secrets.token_urlsafe(16)
    env = {"HUB_MQTT_LOADGEN_PASSWORD": loadgen_pw, "HUB_BATCH_MAX_DELAY_MS": str(args.batch_delay_ms)}
    if args.mqtt5:
        env["HUB_MQTT_PROTOCOL"] = "5"
    if args.no_rules:
        rules_dir = workdir / "rules"
        rules_dir.mkdir()
        (rules_dir / "none.yaml").write_text("rules: []\n")
        env["HUB_RULES_DIR"] = str(rules_dir)
    partitions = args.partitions or workers
    env |= {"HUB_INGEST_PARTITIONS": str(partitions), "HUB_MQTT_CLIENT_ID": "bench-hub"}
    auth_secret = secrets.token_urlsafe(16)
    env["HUB_BROKER_AUTH_SECRET"] = auth_secret
    hubs = [HubProcess(url, target, workdir, HUB_WORKER_ID=f"bench-{i}", **env) for i in range(workers)]
    if cluster is not None:
        cluster.point(f"{hubs[0].url}/api/v1/broker-auth/{auth_secret}/rabbitmq")
    for hub in hubs:
        stack.callback(hub.stop)
    rules = "no rules" if args.no_rules else "default rules"
    log(f"{broker_kind} on {ports}; starting {workers} hub worker(s) ({rules}, {partitions} partition(s))")
    for hub in hubs:
        hub.start(timeout=60)
    _wait_shared(url, workers, partitions)
    if cluster is not None:
        broker_pids = [pid for pid in (n.pid() for n in cluster.nodes) if pid is not None]
    else:
        assert broker is not None
        assert broker.proc is not None
        broker_pids = [broker.proc.pid]
    hub_pids = [h.proc.pid for h in hubs if h.proc is not None]
    hub_pid = hub_pids[0]
    log(f"hub pid(s) {hub_pids} healthy, partitions shared out")

    if args.drain:
        assert broker is not None, "parse_args keeps drain mode on Mosquitto"
        return _run_drain(args, stack, url, broker, hubs, devices, loadgen_pw)
    publishers = start_publishers(args, stack, ports, devices, loadgen_pw, args.seconds)
    events, go, start_at, progress, procs = publishers
    monitor = psycopg.connect(url, autocommit=True)
    stack.callback(monitor.close)
    measured = Measured(hub_pids, broker_pids, postmaster_pid(monitor))
    probe = Probe(url, HOST, ports[0], LOADGEN_USER, loadgen_pw, PREFIX, probe_dev)
    stack.callback(probe.stop)
    alarm = AlertProbe(url, HOST, ports[0], LOADGEN_USER, loadgen_pw, PREFIX, alarmers)
    stack.callback(alarm.stop)

    idle = procstat.machine_cpu()
    time.sleep(1.0)
    busy_before = procstat.machine_cpu().busy_pct_since(idle)
    if busy_before > BUSY_WARN_PCT:
        log(
            f"warning: the machine was {busy_before:.0f}% busy before publishing; other load skews the results"
        )
    if args.profile is not None:
        _start_profiler(args, hub_pid, stack)

    before = measured.snapshot()
    start_at.value = time.monotonic() + 0.2
    go.set()
    probe.start_publishing(at=start_at.value)
    alarm.start_publishing(at=start_at.value + 0.5)
    log(f"publishing {args.rate:.0f} msg/s at QoS {args.qos} for {args.seconds:.0f}s")
    results = _publish_phase(args, events, procs, progress, hubs, probe, monitor, before, measured)
    probe.stop_publishing()
    alarm.stop_publishing()

    sent = sum(r.acked for r in results) + probe.acked + alarm.acked
    log(f"publishing done: {sent} acknowledged; waiting for the hub to commit the rest")
    after, drain_s = _drain(args, monitor, measured, probe, hubs, expected=sent)
    _await_alerts(alarm, args.settle)
    probe.stop()
    alarm.stop()
    for p in (probe, alarm):
        if p.error is not None:
            raise p.error
    sent = sum(r.acked for r in results) + probe.acked + alarm.acked
    hub_rss_mb = max(procstat.peak_rss_mb(pid) for pid in hub_pids)
    report = {"broker": broker_kind, "workers": workers, "partitions": partitions}
    report |= _report(args, monitor, results, probe, before, after, drain_s, sent, hub_rss_mb, alarm.sent)
    report |= {
        "p50_alert_ms": _ms(_percentile(alarm.latencies_s, 0.50)),
        "p99_alert_ms": _ms(_percentile(alarm.latencies_s, 0.99)),
        "max_alert_ms": _ms(max(alarm.latencies_s) if alarm.latencies_s else None),
        "alert_probes": alarm.sent,
        "alert_probes_not_seen": alarm.sent - len(alarm.latencies_s),
        "alert_ms_each": [round(s * 1000) for s in alarm.latencies_s],
    }
    report["machine_busy_before_pct"] = round(busy_before, 1)
    return report


def start_publishers(
    args: argparse.Namespace,
    stack: ExitStack,
    ports: list[int],
    devices: list[Device],
    password: str,
    seconds: float,
) -> tuple[Any, Any, Any, Any, list[Any]]:
    """The publisher processes, connected and waiting for `go`: (events, go, start_at, progress, procs)."""
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0, lock=False)
    progress = ctx.Array("q", 2 * args.publishers, lock=False)
    procs = []
    for i in range(args.publishers):
        share = tuple(devices[i :: args.publishers])
        spec = WorkerSpec(
            index=i,
            host=HOST,
            port=ports[i % len(ports)],
            username=LOADGEN_USER,
            password=password,
            prefix=PREFIX,
            devices=share,
            rate=args.rate * len(share) / len(devices),
            seconds=seconds,
            qos=args.qos,
            connections=args.connections,
            seed=args.seed,
        )
        procs.append(
            ctx.Process(
                target=run_worker,
                args=(spec, events, go, start_at, progress),
                name=f"loadgen-{i}",
                daemon=True,
            )
        )
    stack.callback(_stop_workers, procs)
    for proc in procs:
        proc.start()
    _wait_ready(events, procs)
    log(f"{args.publishers} publisher(s) × {args.connections} connection(s) connected as {LOADGEN_USER!r}")

    return events, go, start_at, progress, procs


def _start_profiler(args: argparse.Namespace, hub_pid: int, stack: ExitStack) -> "subprocess.Popen[bytes]":
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        found = shutil.which("py-spy")
        if found is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        exe = Path(found)
    seconds = args.drain_timeout if args.drain else args.seconds
    cmd = [str(exe), "record", "-p", str(hub_pid), "-d", str(math.ceil(seconds))]
    cmd += ["-r", "100", "--threads", "--nonblocking", "-f", "raw", "-o", str(args.profile)]
    if args.profile_idle:
        cmd.append("--idle")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 - our own argv
    stack.callback(_stop_profiler, proc, args.profile)
    log(f"profiling hub pid {hub_pid} into {args.profile}")
    return proc


def _stop_profiler(proc: "subprocess.Popen[bytes]", path: Path) -> None:
    """py-spy writes its file when its duration ends or on SIGINT; give it the chance to finish."""
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log(f"profile written to {path}" if path.exists() else f"py-spy wrote no profile ({proc.returncode})")


def mix(devices: list[Device]) -> str:
    counts: dict[str, int] = {}
    for d in devices:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    communities = len({d.community for d in devices})
    return ", ".join(f"{k} {v}" for k, v in counts.items()) + f" in {communities} communities"


def _wait_ready(events: Any, procs: list[Any]) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + 120
    while len(ready) < len(procs):
        if time.monotonic() > deadline:
            raise RuntimeError("publishers did not connect within 120s")
        for item in drain_events(events, 0.5):
            if item[0] == "error":
                raise RuntimeError(f"publisher {item[1]} failed:\n{item[2]}")
            if item[0] == "ready":
                ready.add(item[1])
        dead = [p.name for p in procs if p.exitcode is not None]
        if dead and len(ready) < len(procs):
            raise RuntimeError(f"publisher process(es) {', '.join(dead)} exited before connecting")


def _publish_phase(
    args: argparse.Namespace,
    events: Any,
    procs: list[Any],
    progress: Any,
    hubs: list[HubProcess],
    probe: Probe,
    monitor: psycopg.Connection[Any],
    before: Snapshot,
    measured: Measured,
) -> list[WorkerResult]:
    done: dict[int, WorkerResult] = {}
    deadline = time.monotonic() + args.seconds + OVERRUN_S + ACK_GRACE_S + 30
    next_report = time.monotonic() + PROGRESS_EVERY_S
    while len(done) < len(procs):
        for item in drain_events(events, 0.5):
            if item[0] == "error":
                raise RuntimeError(f"publisher {item[1]} failed:\n{item[2]}")
            if item[0] == "done":
                result: WorkerResult = item[2]
                done[result.index] = result
                for note in result.notes:
                    log(note)
        _check_alive(hubs, probe)
        lost_workers = [p.name for i, p in enumerate(procs) if p.exitcode is not None and i not in done]
        if lost_workers:
            # A result may still be in the queue's pipe when the process has just exited.
            for item in drain_events(events, 2.0):
                if item[0] == "done":
                    done[item[2].index] = item[2]
            lost_workers = [p.name for i, p in enumerate(procs) if p.exitcode is not None and i not in done]
            if lost_workers:
                raise RuntimeError(f"publisher process(es) {', '.join(lost_workers)} died")
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError("publishers did not finish in time")
        if now >= next_report:
            next_report = now + PROGRESS_EVERY_S
            published = sum(progress[2 * i] for i in range(len(procs)))
            acked = sum(progress[2 * i + 1] for i in range(len(procs)))
            snap = measured.snapshot()
            elapsed = max(now - before.at - 0.2, 1e-9)
            lat = probe.latencies_s[-1] * 1000 if probe.latencies_s else float("nan")
            log(
                f"published {published} ({published / elapsed:.0f}/s), acked {acked}, stored {_count_rows(monitor)}, "
                f"last probe {lat:.0f} ms, hub CPU {100 * (snap.hub - before.hub) / elapsed:.0f}%, "
                f"machine busy {snap.machine.busy_pct_since(before.machine):.0f}%"
            )
    return [done[i] for i in sorted(done)]


def _drain(
    args: argparse.Namespace,
    monitor: psycopg.Connection[Any],
    measured: Measured,
    probe: Probe,
    hubs: list[HubProcess],
    expected: int,
) -> tuple[Snapshot, float]:
    """Wait until the stored count reaches `expected` (and every probe is seen) or stops growing.

    The returned snapshot is the one taken when the final count was first observed, so idle time
    spent confirming that nothing more arrives is not charged to the hub.
    """
    started = time.monotonic()
    count = _count_rows(monitor)
    final = measured.snapshot()
    changed_at = time.monotonic()
    next_report = started + PROGRESS_EVERY_S
    while True:
        _check_alive(hubs, probe)
        now = time.monotonic()
        if count >= expected and probe.outstanding == 0:
            break
        if now - changed_at >= args.settle:
            log(f"row count steady at {count} for {args.settle:.0f}s (expected {expected})")
            break
        if now - started > args.drain_timeout:
            log(f"gave up waiting after {args.drain_timeout:.0f}s: {count} of {expected} stored")
            break
        if now >= next_report:
            next_report = now + PROGRESS_EVERY_S
            log(f"draining: {count} of {expected} stored, {probe.outstanding} probe(s) not yet visible")
        time.sleep(DRAIN_POLL_S)
        snap = measured.snapshot()
        new_count = _count_rows(monitor)
        if new_count != count:
            count, final, changed_at = new_count, snap, time.monotonic()
    return final, final.at - started


def _run_drain(
    args: argparse.Namespace,
    stack: ExitStack,
    url: str,
    broker: Broker,
    hubs: list[HubProcess],
    devices: list[Device],
    password: str,
) -> dict[str, Any]:
    """Queue `args.drain` messages for the stopped hub, start it, and measure the drain alone."""
    for hub in hubs:
        hub.stop()
    log("hub stopped; its persistent sessions stay at the broker")
    events, go, start_at, _progress, procs = start_publishers(
        args, stack, [broker.port], devices, password, args.drain / args.rate
    )
    start_at.value = time.monotonic() + 0.2
    go.set()
    log(f"queueing {args.drain} messages at {args.rate:.0f} msg/s (QoS {args.qos})")
    results = await_publishers(events, procs, args.drain / args.rate + OVERRUN_S + ACK_GRACE_S + 30)
    sent = sum(r.acked for r in results)
    log(f"{sent} acknowledged by the broker and queued for the hub; starting the hub")

    monitor = psycopg.connect(url, autocommit=True)
    stack.callback(monitor.close)
    postmaster = postmaster_pid(monitor)
    starters = [threading.Thread(target=hub.start, kwargs={"timeout": 120}, daemon=True) for hub in hubs]
    for t in starters:
        t.start()
    deadline = time.monotonic() + 30
    while any(h.proc is None for h in hubs):
        if time.monotonic() > deadline:
            raise RuntimeError("the hub process did not start")
        time.sleep(0.005)
    hub_pids = [h.proc.pid for h in hubs if h.proc is not None]
    assert broker.proc is not None
    measured = Measured(hub_pids, [broker.proc.pid], postmaster)
    sampler = CpuSampler(measured.snapshot)
    stack.callback(sampler.stop)
    sampler.start()
    profiler = _start_profiler(args, hub_pids[0], stack) if args.profile is not None else None
    final, count = await_rows(
        args, measured, sent, alive=lambda: _hubs_alive(hubs), count_rows=lambda: _count_rows(monitor)
    )
    sampler.stop()
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # the drain is over: py-spy writes its file now
    for t in starters:
        t.join(120)

    db = _stored(monitor)
    first = monitor.execute(
        sql.SQL("SELECT extract(epoch FROM min(received_at))::float8 FROM ({}) AS r").format(
            sql.SQL(" UNION ALL ").join(sql.SQL("SELECT received_at FROM {}").format(t) for t in _tables())
        )
    ).fetchone()
    if first is None or first[0] is None:
        raise RuntimeError("the hub stored nothing")
    opened = sampler.at_wall(float(first[0]))
    window_s = final.wall - opened.wall
    stored = db["stored"]
    per_msg = 1e6 / stored if stored else float("nan")
    hub_rss_mb = max(procstat.peak_rss_mb(pid) for pid in hub_pids)
    return {
        "mode": "drain",
        "devices": args.devices,
        "queued": sent,
        "rules": not args.no_rules,
        "mqtt": "5" if args.mqtt5 else "3.1.1",
        "batch_delay_ms": args.batch_delay_ms,
        "stored": stored,
        "distinct_keys": db["distinct_keys"],
        "lost": max(0, sent - db["distinct_keys"]),
        "duplicated": db["duplicated"],
        "dead_lettered": db["dead_lettered"],
        "alerts": db["alerts"],
        "drain_msgs_per_s": round(stored / window_s, 1) if window_s > 0 else None,
        "drain_window_s": round(window_s, 2),
        "receive_msgs_per_s": round(stored / db["span_s"], 1) if db["span_s"] > 0 else None,
        "hub_cpu_us_per_msg": round((final.hub - opened.hub) * per_msg, 1),
        "db_cpu_us_per_msg": round((final.db - opened.db) * per_msg, 1),
        "broker_cpu_us_per_msg": round((final.broker - opened.broker) * per_msg, 1),
        "hub_cpu_pct": round(100 * (final.hub - opened.hub) / window_s, 1) if window_s > 0 else None,
        "hub_cpu_us_per_msg_by_thread": by_thread(opened, final, per_msg),
        "hub_rss_mb": round(hub_rss_mb, 1),
        "rows_seen_at_end": count,
        "machine_cpu_busy_pct": round(final.machine.busy_pct_since(opened.machine), 1),
        "host": procstat.host(),
    }


def await_publishers(events: Any, procs: list[Any], timeout_s: float) -> list[WorkerResult]:
    done: dict[int, WorkerResult] = {}
    deadline = time.monotonic() + timeout_s
    while len(done) < len(procs):
        if time.monotonic() > deadline:
            raise RuntimeError("publishers did not finish in time")
        for item in drain_events(events, 0.5):
            if item[0] == "error":
                raise RuntimeError(f"publisher {item[1]} failed:\n{item[2]}")
            if item[0] == "done":
                done[item[2].index] = item[2]
                for note in item[2].notes:
                    log(note)
    return [done[i] for i in sorted(done)]


def await_rows(
    args: argparse.Namespace,
    measured: Measured,
    expected: int,
    *,
    alive: Callable[[], None],
    count_rows: Callable[[], int],
) -> tuple[Snapshot, int]:
    """Poll until `expected` rows are stored or the count stops growing; the snapshot taken when the
    final count was first seen, so idle time confirming it is not charged to the contestant. `alive`
    raises if the contestant's process has exited; shared with the peer's drain (`bench.peer`)."""
    started = time.monotonic()
    count, final, changed_at = -1, None, started
    next_report = started + PROGRESS_EVERY_S
    while True:
        alive()
        snap = measured.snapshot()
        new_count = count_rows()
        now = time.monotonic()
        if new_count != count:
            count, final, changed_at = new_count, snap, now
        if count >= expected:
            break
        if count > 0 and now - changed_at >= args.settle:
            log(f"row count steady at {count} for {args.settle:.0f}s (expected {expected})")
            break
        if now - started > args.drain_timeout:
            log(f"gave up waiting after {args.drain_timeout:.0f}s: {count} of {expected} stored")
            break
        if now >= next_report:
            next_report = now + PROGRESS_EVERY_S
            log(f"draining: {count} of {expected} stored")
        time.sleep(max(0.0, DRAIN_MODE_POLL_S - (time.monotonic() - now)))
    assert final is not None
    return final, count


def _hubs_alive(hubs: list[HubProcess]) -> None:
    for hub in hubs:
        if hub.proc is not None and hub.proc.poll() is not None:
            raise RuntimeError(f"hub exited with {hub.proc.returncode}:\n{hub.log()}")


def _await_alerts(alarm: AlertProbe, timeout_s: float) -> None:
    """The last alarms' cases may commit after the last reading is stored."""
    deadline = time.monotonic() + timeout_s
    while alarm.outstanding and time.monotonic() < deadline and alarm.error is None:
        time.sleep(0.05)


def _wait_shared(url: str, workers: int, partitions: int) -> None:
    """Every worker serves its share before publishing starts, so a run measures N workers, not one
    worker and a hand-over."""
    share = fair_share(partitions, workers)
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            owners = [
                r[0]
                for r in conn.execute(
                    "SELECT owner FROM ingest_partitions WHERE partition < %s", (partitions,)
                )
            ]
            held = [owners.count(f"bench-{i}") for i in range(workers)]
            if len(owners) == partitions and sum(held) == partitions and max(held) <= share:
                return
            time.sleep(0.2)
    raise RuntimeError("the hub workers did not share the partitions out within 60 s")


def _check_alive(hubs: list[HubProcess], probe: Probe) -> None:
    _hubs_alive(hubs)
    if probe.error is not None:
        raise probe.error


def _tables() -> list[sql.Identifier]:
    return [sql.Identifier(t.name) for t in ALL_TABLES]


def _count_rows(conn: psycopg.Connection[Any]) -> int:
    query = sql.SQL("SELECT {}").format(
        sql.SQL(" + ").join(sql.SQL("(SELECT count(*) FROM {})").format(t) for t in _tables())
    )
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def postmaster_pid(conn: psycopg.Connection[Any]) -> int | None:
    """The cluster's postmaster is the parent of our backend; None if /proc does not show it."""
    try:
        return procstat.parent_pid(conn.info.backend_pid)
    except (OSError, ValueError, IndexError):
        return None


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: with few samples an interpolated p99 would invent a value never observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _stored(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What the database holds: rows, distinct keys, duplicates, the received_at span and the
    publish → receive percentiles, dead letters and alerts."""
    distinct_keys = duplicated = 0
    for t in _tables():
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(n - 1), 0) FROM "
                "(SELECT count(*) AS n FROM {} GROUP BY device_id, time, seq) AS g"
            ).format(t)
        ).fetchone()
        assert row is not None
        distinct_keys += int(row[0])
        duplicated += int(row[1])
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT time, received_at FROM {}").format(t) for t in _tables()
    )
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at))::float8, "
            "percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM received_at - time)::float8) FROM ({}) AS r"
        ).format(union)
    ).fetchone()
    assert row is not None
    stored, span_s, ingest = int(row[0]), float(row[1] or 0.0), row[2] or [None, None]
    dead = conn.execute(
        "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY count(*) DESC LIMIT 5"
    ).fetchall()
    dead_lettered = sum(int(n) for _, n in dead)
    for reason, n in dead:
        log(f"dead-lettered {n}: {reason}")
    alerts_row = conn.execute("SELECT count(*) FROM alerts").fetchone()
    alerts = int(alerts_row[0]) if alerts_row else 0
    return {
        "stored": stored,
        "distinct_keys": distinct_keys,
        "duplicated": duplicated,
        "span_s": span_s,
        "ingest": ingest,
        "dead_lettered": dead_lettered,
        "alerts": alerts,
    }


def _report(
    args: argparse.Namespace,
    conn: psycopg.Connection[Any],
    results: list[WorkerResult],
    probe: Probe,
    before: Snapshot,
    after: Snapshot,
    drain_s: float,
    sent: int,
    hub_rss_mb: float,
    alarm_sent: int = 0,
) -> dict[str, Any]:
    db = _stored(conn)
    stored, distinct_keys, duplicated, span_s = (
        db["stored"],
        db["distinct_keys"],
        db["duplicated"],
        db["span_s"],
    )
    ingest, dead_lettered, alerts = db["ingest"], db["dead_lettered"], db["alerts"]
    published = sum(r.published for r in results) + probe.sent + alarm_sent
    publish_s = max((r.publish_s for r in results), default=0.0)
    loadgen_cpu = sum(r.cpu_s for r in results)
    per_msg = 1e6 / stored if stored else float("nan")
    lat = probe.latencies_s
    return {
        "devices": args.devices,
        "seconds": args.seconds,
        "rate": args.rate,
        "qos": args.qos,
        "rules": not args.no_rules,
        "mqtt": "5" if args.mqtt5 else "3.1.1",
        "publishers": args.publishers,
        "connections": args.connections,
        "batch_delay_ms": args.batch_delay_ms,
        "published": published,
        "sent": sent,
        "stored": stored,
        "distinct_keys": distinct_keys,
        "lost": max(0, sent - distinct_keys),
        "duplicated": duplicated,
        "dead_lettered": dead_lettered,
        "alerts": alerts,
        "msgs_per_s": round(stored / span_s, 1) if span_s > 0 else None,
        "offered_msgs_per_s": round((published - probe.sent - alarm_sent) / publish_s, 1)
        if publish_s > 0
        else None,
        "hub_cpu_us_per_msg": round((after.hub - before.hub) * per_msg, 1),
        "hub_cpu_us_per_msg_by_thread": by_thread(before, after, per_msg),
        "hub_rss_mb": round(hub_rss_mb, 1),
        "p50_commit_ms": _ms(_percentile(lat, 0.50)),
        "p99_commit_ms": _ms(_percentile(lat, 0.99)),
        "max_commit_ms": _ms(max(lat) if lat else None),
        "probes": probe.sent,
        "probes_not_seen": probe.sent - len(lat),
        "p50_ingest_ms": _ms(ingest[0]),
        "p99_ingest_ms": _ms(ingest[1]),
        "drain_s": round(drain_s, 1),
        "broker_cpu_us_per_msg": round((after.broker - before.broker) * per_msg, 1),
        "db_cpu_us_per_msg": round((after.db - before.db) * per_msg, 1),
        "loadgen_cpu_us_per_msg": round(loadgen_cpu * per_msg, 1),
        "machine_cpu_busy_pct": round(after.machine.busy_pct_since(before.machine), 1),
        "host": procstat.host(),
    }


def by_thread(before: Snapshot, after: Snapshot, per_msg: float) -> dict[str, float]:
    """The hub's CPU a message per thread name over a window, largest first; a thread that ended within
    the window is left out (its counters went with it)."""
    spent = {
        name: (cpu - before.hub_threads.get(name, 0.0)) * per_msg for name, cpu in after.hub_threads.items()
    }
    return {name: round(us, 1) for name, us in sorted(spent.items(), key=lambda kv: -kv[1]) if us > 0}


def _stop_workers(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        if p.pid is None:  # never started
            continue
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(5)


if __name__ == "__main__":
    sys.exit(main())
