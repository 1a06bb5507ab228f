"""Drain benchmark of a peer: the hub's drain backlog, drained by a Node-RED 4.1 flow instead.

    .venv/bin/python -m bench.peer --drain 200000 [--devices 10000]

Why: the project's figures for the hub's drain (`python -m bench.ingest --drain N`) are quoted beside
those of "Node-RED 4.1, batched flow (MQTT in → 1,000-row unnest INSERT … ON CONFLICT DO NOTHING into
a TimescaleDB hypertable, payload as jsonb), acknowledging on receipt". Numbers from another machine
or another hour are no comparison on a small shared machine, so this builds that peer and measures it
the way the hub's drain is measured, with the same code wherever it applies: the same fresh database
in the private TimescaleDB cluster, the same Mosquitto (deploy/mosquitto/mosquitto.conf, with its
queue limits and password/ACL files), the same fleet, payloads and publishers queueing N messages at
QoS 1 for a stopped consumer's persistent session, and the same CPU sampler and window.

What the peer does less than the hub, and so what the comparison does not charge it for: it validates
nothing (no contract, no registry lookup, no dead letters: it takes device_id, ts and seq from whatever
JSON arrives and stores the whole payload as jsonb in one table, an access event's person reference
as it came where the hub keeps only a keyed pseudonym), evaluates no rules, and acknowledges
each message on receipt (Node-RED's default) instead of after the batch holding it is committed, so a
crash loses what it had not yet written. The flow is bench/peer/flow.json, its settings
bench/peer/settings.js; Node-RED and node-postgres are installed into bench/peer/node_modules from
bench/peer/package-lock.json with `npm ci` on the first run.

How a run goes: a fresh database gets the `peer_messages` hypertable (1-day chunks, as the hub's
tables); a private Mosquitto starts with two accounts written into its password and ACL files before
it starts, so no hub is needed to answer for them: `loadgen` (write `sc/v1/#`, as the hub's drain
uses) and `bench-peer` (read `sc/v1/#`, like the hub's own account). Node-RED starts once with a fixed
client id and clean session off, and is stopped after a marker message has gone through it into the
database (so its subscription exists at the broker; the marker row is deleted); the publishers queue
N messages; Node-RED starts again and drains them. Everything started is stopped, and the database
dropped, at the end, also on Ctrl-C or an error.

The report (one JSON line on stdout; progress on stderr) uses the hub drain's field names where they
apply, `hub_*` becoming `peer_*`: the window opens at the peer's first receive and closes when the
final row count is first seen (polled every 0.2 s); CPU at the opening is interpolated from /proc
samples taken every 20 ms. `received_at` of a row is when the first message of its batch reached the
flow (the flow's wall clock, on this machine), so min(received_at) is the first receive, as for the
hub, and `receive_msgs_per_s` (stored / span of received_at) is only good to a batch.
`peer_cpu_us_per_msg` is the Node.js process's user + system CPU over the window, start-up excluded;
`peer_rss_mb` its VmHWM; `db_cpu_us_per_msg` every process of the PostgreSQL cluster seen, the
row-count polls included, as for the hub.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from bench import procstat
from bench.fleet import fleet
from bench.ingest import (
    HOST,
    PREFIX,
    await_publishers,
    await_rows,
    log,
    mix,
    postmaster_pid,
    start_publishers,
)
from bench.loadgen import ACK_GRACE_S, OVERRUN_S
from bench.sampler import CpuSampler, Measured
from bench.wire import Publisher, encode_topic
from hub.broker.auth import BrokerAccount, hash_password, write_auth_files
from hub.devices.service import LOADGEN_USER
from hub.store.migrations import require_timescaledb
from tests.support.services import Broker, create_database, drop_database

PEER_DIR = Path(__file__).resolve().parent / "peer"
NODE_MODULES = PEER_DIR / "node_modules"
RED_JS = NODE_MODULES / "node-red" / "red.js"
PEER_USER = "bench-peer"
BROKER_NODE_ID = "peer-broker"
"""The flow's mqtt-broker config node: its credentials are keyed by this id."""
BATCH_ROWS = 1000
"""As in bench/peer/flow.json; reported so that a change there shows in the JSON."""
MARKER_DEVICE = "bench-peer-ready"
MARKER_EVERY_S = 0.5
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

SCHEMA = (
    "CREATE TABLE peer_messages ("
    " time timestamptz NOT NULL, device_id text NOT NULL, seq bigint NOT NULL, payload jsonb NOT NULL,"
    " received_at timestamptz NOT NULL, PRIMARY KEY (device_id, time, seq))",
    "SELECT create_hypertable('peer_messages', by_range('time', INTERVAL '1 day'))",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--drain",
        type=int,
        required=True,
        metavar="N",
        help="queue N messages for the stopped Node-RED's session, then start it and time the drain",
    )
    p.add_argument("--devices", type=int, default=10_000, help="devices publishing (default 10000)")
    p.add_argument("--rate", type=float, default=10_000.0, help="queueing rate, msgs/s (default 10000)")
    p.add_argument("--publishers", type=int, default=3, help="load generator processes (default 3)")
    p.add_argument("--connections", type=int, default=1, help="MQTT connections per publisher (default 1)")
    p.add_argument("--drain-timeout", type=float, default=240.0, help="max wait for the drain")
    p.add_argument("--settle", type=float, default=5.0, help="row count unchanged this long = drained")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.drain <= 0:
        p.error("--drain must be positive")
    if min(args.rate, args.publishers, args.connections) <= 0:
        p.error("--rate, --publishers and --connections must be positive")
    if args.devices < args.publishers * args.connections:
        p.error("need at least one device per connection")
    args.qos = 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    stack = ExitStack()
    try:
        report = run(args, stack)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except psycopg.OperationalError as exc:
        # The cluster is shared with the test suite, which restarts PostgreSQL on purpose.
        log(f"lost the database ({exc}); was PostgreSQL restarted by another process? No result.")
        return 1
    except ToolMissing as exc:
        log(str(exc))
        return 1
    finally:
        # A second Ctrl-C must not leave Node-RED, a broker or a database behind.
        handlers = (
            signal.signal(signal.SIGINT, signal.SIG_IGN),
            signal.signal(signal.SIGTERM, signal.SIG_IGN),
        )
        log("cleaning up: publishers, Node-RED, broker, database")
        try:
            stack.close()
        except Exception as exc:
            log(f"clean-up failed: {exc!r}")
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    print(json.dumps(report), flush=True)
    return 0


class ToolMissing(RuntimeError):
    """Node.js or npm is not on this machine: said plainly instead of as a traceback."""


def ensure_packages() -> None:
    """Install bench/peer/node_modules from the lock file unless the locked versions are there already.

    `npm ci` replaces node_modules wholesale, so it runs only when the direct dependencies are missing or
    at other versions than package-lock.json records; a second run installs nothing.
    """
    if _installed_as_locked():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ToolMissing(
            "npm is not installed: the Node-RED peer needs Node.js 18.5+ and npm (apt-get install nodejs npm)"
        )
    log(f"installing Node-RED and node-postgres into {NODE_MODULES} (npm ci)")
    done = subprocess.run(  # noqa: S603 - our own argv
        [npm, "ci", "--no-audit", "--no-fund", "--omit-lockfile-registry-resolved=true"],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if not _installed_as_locked():
        raise RuntimeError("npm ci finished, but node_modules does not hold the locked versions")


def _installed_as_locked() -> bool:
    lock = json.loads((PEER_DIR / "package-lock.json").read_text())
    for name in json.loads((PEER_DIR / "package.json").read_text())["dependencies"]:
        installed = NODE_MODULES / name / "package.json"
        if not installed.exists():
            return False
        if (
            json.loads(installed.read_text())["version"]
            != lock["packages"][f"node_modules/{name}"]["version"]
        ):
            return False
    return True


class NodeRed:
    """The peer: one Node.js process running bench/peer/flow.json headless, started twice per run.

    Its user directory is a fresh temporary one; the credentials file written there holds only
    `${ENV}` references, which Node-RED resolves from the environment when the flow starts.
    """

    def __init__(self, node: str, workdir: Path, mqtt_port: int, password: str, database_url: str) -> None:
        self.node = node
        self.user_dir = workdir / "node-red"
        self.user_dir.mkdir()
        credentials = {BROKER_NODE_ID: {"user": "${PEER_MQTT_USER}", "password": "${PEER_MQTT_PASSWORD}"}}
        (self.user_dir / "flow_cred.json").write_text(json.dumps(credentials))
        self.log_path = workdir / "node-red.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PEER_", "NODE_RED_", "PG"))},
            **_libpq_env(database_url),
            "PEER_USER_DIR": str(self.user_dir),
            "PEER_MQTT_PORT": str(mqtt_port),
            "PEER_MQTT_USER": PEER_USER,
            "PEER_MQTT_PASSWORD": password,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own argv
                [self.node, str(RED_JS), "--settings", str(PEER_DIR / "settings.js")],
                cwd=self.user_dir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"Node-RED exited with {self.proc.returncode}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, on which Node-RED closes its flow and sends DISCONNECT: the session stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _libpq_env(conninfo: str) -> dict[str, str]:
    """The database as the libpq environment variables, which node-postgres reads: the flow needs no
    URL, and a password or host name needs no quoting."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    return {env: str(params[key]) for key, env in names.items() if params.get(key) is not None}


def run(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise ToolMissing(
            "node is not installed: the Node-RED peer needs Node.js 18.5+ (apt-get install nodejs)"
        )
    ensure_packages()
    red_version = json.loads((NODE_MODULES / "node-red" / "package.json").read_text())["version"]

    name, url = create_database()
    stack.callback(drop_database, name)
    with psycopg.connect(url, autocommit=True) as conn:
        require_timescaledb(conn)
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        for statement in SCHEMA:
            conn.execute(statement)
    log(f"database {name}: hypertable peer_messages created")
    devices = fleet(args.devices)
    log(f"fleet of {len(devices)} devices: {mix(devices)}")

    broker = Broker()
    stack.callback(broker.cleanup)
    peer_pw, loadgen_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    accounts = [
        BrokerAccount(PEER_USER, hash_password(peer_pw), read_topics=(f"{PREFIX}/#",)),
        BrokerAccount(LOADGEN_USER, hash_password(loadgen_pw), write_topics=(f"{PREFIX}/#",)),
    ]
    write_auth_files(broker.auth_dir, accounts, None)
    broker.start()
    assert broker.proc is not None

    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-peer-"))
    stack.callback(shutil.rmtree, workdir, True)
    peer = NodeRed(node, workdir, broker.port, peer_pw, url)
    stack.callback(peer.stop)
    log(f"mosquitto on {broker.port}; starting Node-RED {red_version} to leave its session at the broker")
    started = time.monotonic()
    peer.start()
    _await_marker(peer, url, broker.port, loadgen_pw)
    log(f"Node-RED subscribed and storing after {time.monotonic() - started:.1f}s; stopping it")
    peer.stop()
    log("Node-RED stopped; its persistent session stays at the broker")

    events, go, start_at, _progress, procs = start_publishers(
        args, stack, [broker.port], devices, loadgen_pw, args.drain / args.rate
    )
    start_at.value = time.monotonic() + 0.2
    go.set()
    log(f"queueing {args.drain} messages at {args.rate:.0f} msg/s (QoS 1)")
    results = await_publishers(events, procs, args.drain / args.rate + OVERRUN_S + ACK_GRACE_S + 30)
    sent = sum(r.acked for r in results)
    log(f"{sent} acknowledged by the broker and queued for Node-RED; starting Node-RED")

    monitor = psycopg.connect(url, autocommit=True)
    stack.callback(monitor.close)
    peer.start()
    measured = Measured([peer.pid], [broker.proc.pid], postmaster_pid(monitor))
    sampler = CpuSampler(measured.snapshot)
    stack.callback(sampler.stop)
    sampler.start()
    final, count = await_rows(
        args, measured, sent, alive=peer.check_alive, count_rows=lambda: _count_rows(monitor)
    )
    sampler.stop()
    peer_rss_mb = procstat.peak_rss_mb(peer.pid)

    db = _stored(monitor)
    if db["first"] is None:
        raise RuntimeError(f"Node-RED stored nothing:\n{peer.log()}")
    opened = sampler.at_wall(db["first"])
    window_s = final.wall - opened.wall
    stored = db["stored"]
    per_msg = 1e6 / stored if stored else float("nan")
    return {
        "mode": "drain",
        "contestant": "node-red",
        "node_red": red_version,
        "devices": args.devices,
        "queued": sent,
        "rules": False,
        "mqtt": "3.1.1",
        "batch_rows": BATCH_ROWS,
        "stored": stored,
        "distinct_keys": db["distinct_keys"],
        "lost": max(0, sent - db["distinct_keys"]),
        "duplicated": db["duplicated"],
        "drain_msgs_per_s": round(stored / window_s, 1) if window_s > 0 else None,
        "drain_window_s": round(window_s, 2),
        "receive_msgs_per_s": round(stored / db["span_s"], 1) if db["span_s"] > 0 else None,
        "peer_cpu_us_per_msg": round((final.hub - opened.hub) * per_msg, 1),
        "db_cpu_us_per_msg": round((final.db - opened.db) * per_msg, 1),
        "broker_cpu_us_per_msg": round((final.broker - opened.broker) * per_msg, 1),
        "peer_cpu_pct": round(100 * (final.hub - opened.hub) / window_s, 1) if window_s > 0 else None,
        "peer_rss_mb": round(peer_rss_mb, 1),
        "rows_seen_at_end": count,
        "machine_cpu_busy_pct": round(final.machine.busy_pct_since(opened.machine), 1),
        "host": procstat.host(),
    }


def _await_marker(peer: NodeRed, url: str, port: int, password: str) -> None:
    """Publish markers as the load generator until they go through the flow, then delete their rows.

    Their arrival proves what the drain depends on: the broker accepted the peer's account, the
    subscription exists in its persistent session, and the flow reaches the database. Until Node-RED
    has subscribed the broker drops them, so one is sent every MARKER_EVERY_S with the next seq; once
    one arrives, every later one was routed to the session too, so the wait goes on until the last one
    sent is stored: then none is left in the broker's queue to be counted in the drain.
    """
    publisher = Publisher(HOST, port, client_id="bench-peer-marker", username=LOADGEN_USER, password=password)
    topic = encode_topic(f"{PREFIX}/{MARKER_DEVICE}/ready")
    deadline = time.monotonic() + START_TIMEOUT_S
    sent = 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                peer.check_alive()
                row = conn.execute(
                    "SELECT max(seq) FROM peer_messages WHERE device_id = %s", (MARKER_DEVICE,)
                ).fetchone()
                seen = row[0] if row is not None else None
                if seen == sent and sent > 0:
                    conn.execute("DELETE FROM peer_messages WHERE device_id = %s", (MARKER_DEVICE,))
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no marker stored within {START_TIMEOUT_S:.0f}s of starting Node-RED:\n{peer.log()}"
                    )
                if seen is None:
                    sent += 1
                    marker = {"device_id": MARKER_DEVICE, "ts": datetime.now(UTC).isoformat(), "seq": sent}
                    publisher.publish_many([(topic, json.dumps(marker).encode())], 1)
                    if not publisher.wait_acked(5.0):
                        raise RuntimeError("the broker did not acknowledge a marker within 5 s")
                time.sleep(MARKER_EVERY_S)
    finally:
        publisher.close()


def _count_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM peer_messages").fetchone()
    return int(row[0]) if row else 0


def _stored(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Rows, distinct keys, duplicates, and the first receive and span of received_at (epoch seconds)."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(n - 1), 0) FROM "
        "(SELECT count(*) AS n FROM peer_messages GROUP BY device_id, time, seq) AS g"
    ).fetchone()
    assert row is not None
    distinct_keys, duplicated = int(row[0]), int(row[1])
    row = conn.execute(
        "SELECT count(*), extract(epoch FROM min(received_at))::float8, "
        "extract(epoch FROM max(received_at) - min(received_at))::float8 FROM peer_messages"
    ).fetchone()
    assert row is not None
    return {
        "stored": int(row[0]),
        "distinct_keys": distinct_keys,
        "duplicated": duplicated,
        "first": None if row[1] is None else float(row[1]),
        "span_s": float(row[2] or 0.0),
    }


if __name__ == "__main__":
    sys.exit(main())
