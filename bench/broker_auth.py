"""Broker-auth benchmark: how many auth calls a second one hub answers, and how fast.

    cd /work/main && .venv/bin/python -m bench.broker_auth [--devices 2000] [--seconds 15] [--concurrency 8]

A clustered broker asks the hub before every connect (user: the PBKDF2 check of the stored hash) and
before the first publish to each topic (topic: the device's own root), through a short answer cache.
This starts a hub process (API only, on a fresh database with `--devices` registered devices, each with
its own password) and calls `/api/v1/broker-auth/{secret}/rabbitmq/user` and `…/topic` in turn from
`--concurrency` keep-alive HTTP clients for `--seconds`, as RabbitMQ's nodes do on a reconnect storm
with an empty cache. The per-address rate limit is lifted so the hub's own capacity is measured.
Prints one JSON line: calls per second, p50/p99 latency per call kind, refusals (must be 0: every
password is right), the hub's CPU per call, and how busy the machine was.
"""

import argparse
import json
import random
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg

from bench import procstat
from bench.fleet import fleet, register
from hub.broker.auth import hash_password
from hub.store.migrations import migrate
from tests.support.processes import HubProcess
from tests.support.services import Broker, create_database, drop_database

PREFIX = "sc/v1"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.broker_auth", description=__doc__.split("\n", 1)[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--concurrency", type=int, default=8, help="HTTP clients calling at once (default 8)")
    args = p.parse_args(argv)
    if min(args.devices, args.seconds, args.concurrency) <= 0:
        p.error("--devices, --seconds and --concurrency must be positive")
    return args


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with ExitStack() as stack:
        name, url = create_database()
        stack.callback(drop_database, name)
        migrate(url)
        devices = fleet(args.devices)
        passwords = {d.id: secrets.token_urlsafe(12) for d in devices}
        with psycopg.connect(url, autocommit=True) as conn:
            register(conn, devices)
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE devices SET mqtt_password_hash = %s WHERE id = %s",
                    [(hash_password(pw), d) for d, pw in passwords.items()],
                )
        broker = Broker()
        stack.callback(broker.cleanup)
        broker.start()
        workdir = Path(tempfile.mkdtemp(prefix="hub-bench-auth-"))
        stack.callback(shutil.rmtree, workdir, True)
        secret = secrets.token_urlsafe(16)
        hub = HubProcess(
            url,
            broker,
            workdir,
            HUB_INGEST_ENABLED="false",
            HUB_BROKER_AUTH_SECRET=secret,
            HUB_BROKER_AUTH_RATE_PER_S="1000000",
            HUB_BROKER_AUTH_BURST="1000000",
        )
        stack.callback(hub.stop)
        hub.start(timeout=60)
        assert hub.proc is not None
        base = f"{hub.url}/api/v1/broker-auth/{secret}/rabbitmq"
        latencies: dict[str, list[float]] = {"user": [], "topic": []}
        refused = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            mine: dict[str, list[float]] = {"user": [], "topic": []}
            denied = 0
            with httpx.Client(timeout=10) as http:
                while time.monotonic() < stop_at:
                    d = rng.choice(devices)
                    calls = (
                        ("user", {"username": d.id, "password": passwords[d.id]}),
                        (
                            "topic",
                            {
                                "username": d.id,
                                "vhost": "hub",
                                "resource": "topic",
                                "name": "amq.topic",
                                "permission": "write",
                                "routing_key": f"{PREFIX}/{d.community}/{d.kind}/{d.id}/telemetry".replace(
                                    "/", "."
                                ),
                            },
                        ),
                    )
                    for kind, form in calls:
                        t0 = time.perf_counter()
                        r = http.post(f"{base}/{kind}", data=form)
                        mine[kind].append(time.perf_counter() - t0)
                        denied += r.status_code != 200 or r.text != "allow"
            with lock:
                for k, v in mine.items():
                    latencies[k].extend(v)
                refused[0] += denied

        cpu_before = procstat.cpu_seconds(hub.proc.pid)
        machine_before = procstat.machine_cpu()
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        calls = sum(len(v) for v in latencies.values())
        report = {
            "devices": args.devices,
            "concurrency": args.concurrency,
            "seconds": round(elapsed, 1),
            "calls": calls,
            "calls_per_s": round(calls / elapsed),
            "refused": refused[0],
            "hub_cpu_us_per_call": round(
                (procstat.cpu_seconds(hub.proc.pid) - cpu_before) * 1e6 / max(calls, 1), 1
            ),
            "machine_cpu_busy_pct": round(procstat.machine_cpu().busy_pct_since(machine_before), 1),
        }
        for kind, values in latencies.items():
            report[f"{kind}_p50_ms"] = round(percentile(values, 50) * 1000, 2)
            report[f"{kind}_p99_ms"] = round(percentile(values, 99) * 1000, 2)
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
