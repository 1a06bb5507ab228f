"""The rules see each reading once: the pipeline evaluates a batch's rules while its rows are written,
assuming every reading is new, and must evaluate again on the new ones when the batch holds readings
already stored (a redelivery after a crash). The real pipeline on the real database."""

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.devices.service import register
from hub.engine.evaluator import Engine
from hub.engine.loader import load_text
from tests.support.ingest import pipeline, smoke_inbound

RULE = """
rules:
  - id: redelivery-two-readings
    type: count
    title: Two readings within ten minutes
    title_zh: 十分钟内两条读数
    kinds: [smoke_detector]
    source: telemetry
    where: temperature_c > 0
    threshold: 2
    window: 10m
    severity: minor
    category: device_health
    dispatch: {team: maintenance, ack_within: 4h, resolve_within: 2d}
"""


def _engine() -> Engine:
    rules, errors = load_text(RULE, "redelivery.yaml")
    assert errors == []
    return Engine(rules)


def _alerts(conn: psycopg.Connection[Any], device: str) -> list[Any]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT explanation->>'hold_crossed_at' FROM alerts WHERE rule_id = 'redelivery-two-readings' "
            "AND subject = %s",
            (device,),
        )
    ]


def test_a_redelivered_reading_is_not_counted_again(conn: psycopg.Connection[Any], database_url: str) -> None:
    register(conn, [{"id": "redeliv-1", "kind": "smoke_detector", "community": "redeliv"}])
    acked: list[int] = []
    p = pipeline(database_url, acked, engine=_engine())
    first = smoke_inbound("redeliv", "redeliv-1", 1, datetime.now(UTC) - timedelta(seconds=5))

    p.process([first])
    p.process([first])

    assert acked == [1, 1]
    assert _alerts(conn, "redeliv-1") == []


def test_in_a_batch_of_old_and_new_readings_only_the_new_ones_count(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": "redeliv-2", "kind": "smoke_detector", "community": "redeliv"}])
    acked: list[int] = []
    p = pipeline(database_url, acked, engine=_engine())
    now = datetime.now(UTC)
    first = smoke_inbound("redeliv", "redeliv-2", 1, now - timedelta(seconds=5))
    second = smoke_inbound("redeliv", "redeliv-2", 2, now - timedelta(seconds=4))

    p.process([first])
    p.process([first, second])

    assert _alerts(conn, "redeliv-2") == [second.received_at.isoformat()], "opened by the second reading"
