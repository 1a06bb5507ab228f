"""One device flooding the hub is refused over its limit, visibly, while the others are stored: the
token bucket alone, then the real pipeline on the real database."""

import queue
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.devices.service import register
from hub.ingest.inbound import Inbound
from hub.ingest.ratelimit import DeviceRateLimit, RateGate
from tests.support.ingest import pipeline, smoke_inbound


def test_a_burst_passes_then_the_sustained_rate_applies_per_device() -> None:
    limit = DeviceRateLimit(rate_per_s=2.0, burst=3)
    assert [limit.allow("a", 0.0) for _ in range(5)] == [True, True, True, False, False]
    assert limit.allow("b", 0.0), "another device has its own bucket"
    assert limit.allow("a", 0.5) and not limit.allow("a", 0.5), "half a second refills one token"
    assert [limit.allow("a", 10.0) for _ in range(4)] == [True, True, True, False], "refill caps at burst"
    assert not limit.allow("a", 9.0), "time going backwards refills nothing"


def test_the_flooder_is_dead_lettered_over_its_limit_and_the_others_are_stored(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": d, "kind": "smoke_detector", "community": "rl"} for d in ("rl-flood", "rl-calm")])
    inbox: queue.Queue[Inbound] = queue.Queue()
    acked: list[int] = []
    flooded = pipeline(
        database_url, acked, inbox=inbox, rate_gate=RateGate(DeviceRateLimit(rate_per_s=1.0, burst=5))
    )
    t0 = datetime.now(UTC) - timedelta(seconds=10)
    mid = 0
    for second in range(3):
        at = t0 + timedelta(seconds=second)
        for _ in range(20):
            mid += 1
            inbox.put(smoke_inbound("rl", "rl-flood", mid, at))
        mid += 1
        inbox.put(smoke_inbound("rl", "rl-calm", mid, at))
    stop = threading.Event()
    stop.set()

    flooded.run(stop)

    assert sorted(acked) == list(range(1, mid + 1)), "refused messages are acknowledged too: they are kept"
    stored = dict(
        conn.execute(
            "SELECT device_id, count(*) FROM telemetry_smoke WHERE community_id = 'rl' GROUP BY device_id"
        ).fetchall()
    )
    assert stored == {"rl-flood": 5 + 2, "rl-calm": 3}, "the burst, then one a second; the calm device all"
    refused = conn.execute(
        "SELECT count(*), min(reason) FROM dead_letters WHERE topic LIKE 'sc/v1/rl/%'"
    ).fetchone()
    assert refused == (60 - 7, "rate_limited: device rl-flood sent more than its limit")
    assert flooded.metrics.dead_letter_reasons == {"rate_limited": 53}
