"""Several hub workers on one broker and one database: the partitions are shared out, a worker killed
mid-stream is replaced without loss, and alerts are raised once. Real Mosquitto, real TimescaleDB,
each worker its own `python -m hub run` process."""

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from hub.devices.service import register
from hub.ingest.partitions import partition_of
from hub.store.users import upsert_user
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker, migrated_database

LOADGEN_PW = "scale-loadgen-pw"
PARTITIONS = 6
COMMUNITIES = [f"sc{i}" for i in range(8)]
DEVICES = [f"{c}-sd{j}" for c in COMMUNITIES for j in range(4)]
ALARMED = [f"{c}-sd0" for c in COMMUNITIES]


@pytest.fixture
def db() -> Iterator[str]:
    with migrated_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            register(
                conn,
                [
                    {"id": d, "kind": "smoke_detector", "community": d.split("-")[0], "building": "b1"}
                    for d in DEVICES
                ],
            )
        yield url


def worker(url: str, broker: Broker, tmp_path: Path, name: str) -> HubProcess:
    return HubProcess(
        url,
        broker,
        tmp_path,
        HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW,
        HUB_MQTT_CLIENT_ID="scale-hub",
        HUB_INGEST_PARTITIONS=str(PARTITIONS),
        HUB_WORKER_ID=name,
        HUB_LEASE_TTL_S="3",
        HUB_LEASE_RENEW_S="0.5",
    )


def owners(url: str) -> dict[int, str | None]:
    with psycopg.connect(url) as conn:
        return {int(p): o for p, o in conn.execute("SELECT partition, owner FROM ingest_partitions")}


def shared_evenly(url: str, names: list[str]) -> bool:
    held = owners(url)
    counts = [sum(o == n for o in held.values()) for n in names]
    return len(held) == PARTITIONS and sum(counts) == PARTITIONS and max(counts) - min(counts) <= 1


def scalar(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


class Stream:
    """Steady QoS 1 traffic from every device (about 400 messages a second, so a worker dies with work
    still coming), with an alarm from one detector per community halfway."""

    def __init__(self, port: int, total: int) -> None:
        self.pub = Publisher(port, "loadgen", LOADGEN_PW)
        self.total = total
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for n in range(self.total):
            d = DEVICES[n % len(DEVICES)]
            alarm = d in ALARMED and n >= self.total // 2
            payload = smoke(d, n, smoke_level=4.0 if alarm else 0.1, alarm=alarm)
            self.pub.publish(f"sc/v1/{d.split('-')[0]}/smoke_detector/{d}/telemetry", payload)
            if n % 20 == 0:
                time.sleep(0.05)
        self.done.set()

    def finish(self) -> None:
        self._thread.join(120)
        assert self.done.is_set()
        assert poll(lambda: self.pub.acked == self.total, timeout=60), "the broker accepted every message"
        self.pub.close()


def check_exactly_once(url: str, total: int) -> None:
    assert poll(lambda: scalar(url, "SELECT count(*) FROM telemetry_smoke") >= total, timeout=60), (
        scalar(url, "SELECT count(*) FROM telemetry_smoke"),
        total,
    )
    assert scalar(url, "SELECT count(*) FROM telemetry_smoke") == total, "nothing stored twice"
    assert scalar(url, "SELECT count(DISTINCT (device_id, seq)) FROM telemetry_smoke") == total, (
        "nothing lost"
    )
    with psycopg.connect(url) as conn:
        alerts = conn.execute(
            "SELECT subject, count(*) FROM alerts WHERE rule_id = 'smoke-alarm' GROUP BY subject"
        ).fetchall()
    assert dict(alerts) == dict.fromkeys(ALARMED, 1), "each alarm raised once, by whichever worker held it"


def test_partitions_follow_their_communities() -> None:
    spread = {partition_of(c, PARTITIONS) for c in COMMUNITIES}
    assert len(spread) > 2, "the test communities land in several partitions"


def test_a_worker_killed_mid_stream_is_replaced_without_loss(db: str, broker: Broker, tmp_path: Path) -> None:
    a, b = worker(db, broker, tmp_path, "worker-a"), worker(db, broker, tmp_path, "worker-b")
    try:
        a.start()
        b.start()
        assert poll(lambda: shared_evenly(db, ["worker-a", "worker-b"]), timeout=20), owners(db)
        stream = Stream(broker.port, 4000)
        stream.start()
        assert poll(lambda: scalar(db, "SELECT count(*) FROM telemetry_smoke") > 800, timeout=30)
        assert b.proc is not None
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
        killed_at = scalar(db, "SELECT count(*) FROM telemetry_smoke")
        assert poll(lambda: set(owners(db).values()) == {"worker-a"}, timeout=20), owners(db)
        stream.finish()
        assert killed_at < stream.total, "the worker died mid-stream"
        check_exactly_once(db, stream.total)
    finally:
        a.stop()
        b.stop()


def test_three_workers_share_the_stream_and_hand_over_on_a_graceful_stop(
    db: str, broker: Broker, tmp_path: Path
) -> None:
    names = ["w1", "w2", "w3"]
    hubs = [worker(db, broker, tmp_path, n) for n in names]
    try:
        for h in hubs:
            h.start()
        assert poll(lambda: shared_evenly(db, names), timeout=20), owners(db)
        stream = Stream(broker.port, 3000)
        stream.start()
        assert poll(lambda: scalar(db, "SELECT count(*) FROM telemetry_smoke") > 600, timeout=30)
        hubs[2].stop()
        assert "hub stopped" in hubs[2].log(), "SIGTERM runs the whole graceful stop"
        assert "w3" not in owners(db).values(), "a stopped worker hands its partitions back at once"
        assert poll(lambda: shared_evenly(db, names[:2]), timeout=10), owners(db)
        stream.finish()
        check_exactly_once(db, stream.total)
        per_worker = owners(db)
        assert all(o in names[:2] for o in per_worker.values())
    finally:
        for h in hubs:
            h.stop()


def test_a_standby_worker_takes_over_a_single_partition(db: str, broker: Broker, tmp_path: Path) -> None:
    """With one partition (the default) a second worker is a hot standby."""
    a = HubProcess(
        db, broker, tmp_path, HUB_MQTT_CLIENT_ID="solo", HUB_WORKER_ID="solo-a", HUB_LEASE_TTL_S="3"
    )
    b = HubProcess(
        db, broker, tmp_path, HUB_MQTT_CLIENT_ID="solo", HUB_WORKER_ID="solo-b", HUB_LEASE_TTL_S="3"
    )
    try:
        a.start()
        b.start()
        assert poll(lambda: owners(db) == {0: "solo-a"}, timeout=10), owners(db)
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        assert poll(lambda: owners(db) == {0: "solo-b"}, timeout=15), owners(db)
    finally:
        a.stop()
        b.stop()


def test_two_workers_running_the_rollup_job_count_every_reading_once(
    db: str, broker: Broker, tmp_path: Path
) -> None:
    """Both workers run the rollup job every second; the advisory lock and the watermark written in the
    job's transaction mean each closed minute is rolled up by exactly one of them."""
    jobs = {"HUB_ROLLUP_INTERVAL_S": "1"}
    a = HubProcess(db, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW, HUB_WORKER_ID="job-a", **jobs)
    b = HubProcess(db, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW, HUB_WORKER_ID="job-b", **jobs)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    try:
        a.start()
        b.start()
        pub = Publisher(broker.port, "loadgen", LOADGEN_PW)
        for n in range(600):
            d = DEVICES[n % len(DEVICES)]
            at = start + timedelta(seconds=n)
            pub.publish(f"sc/v1/{d.split('-')[0]}/smoke_detector/{d}/telemetry", smoke(d, n, at=at))
        assert poll(lambda: pub.acked == 600, timeout=30)
        pub.close()
        assert poll(lambda: scalar(db, "SELECT count(*) FROM telemetry_smoke") == 600, timeout=30)
        rolled = "SELECT coalesce(sum(n), 0) FROM telemetry_1m WHERE metric = 'temperature_c'"
        assert poll(lambda: scalar(db, rolled) == 600, timeout=60), scalar(db, rolled)
        time.sleep(3)
        assert scalar(db, rolled) == 600, "no minute rolled up twice"
        assert "Traceback" not in a.log() + b.log(), "no job failed on a conflict"
    finally:
        a.stop()
        b.stop()


def test_an_api_only_worker_takes_no_partitions_and_serves_the_api(
    db: str, broker: Broker, tmp_path: Path
) -> None:
    ingest = worker(db, broker, tmp_path, "ingest-1")
    api = HubProcess(db, broker, tmp_path, HUB_WORKER_ID="api-1", HUB_INGEST_ENABLED="false")
    try:
        api.start()
        ingest.start()
        assert poll(lambda: set(owners(db).values()) == {"ingest-1"}, timeout=20), owners(db)
        assert httpx.get(f"{api.url}/api/v1/health").json()["ingest"] == "off"
        with psycopg.connect(db, autocommit=True) as conn:
            upsert_user(conn, "api-admin", "api-admin-pw", "admin", [])
        r = httpx.get(f"{api.url}/api/v1/devices", headers=api.login("api-admin", "api-admin-pw"))
        assert r.status_code == 200 and len(r.json()) >= len(DEVICES)
        with psycopg.connect(db) as conn:
            workers = [w for (w,) in conn.execute("SELECT worker_id FROM ingest_workers")]
        assert workers == ["ingest-1"], "an API-only worker does not count in the partitions' fair share"
    finally:
        api.stop()
        ingest.stop()
