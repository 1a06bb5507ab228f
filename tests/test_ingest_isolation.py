"""A bug met by one message must not stop ingest nor lose the others: the real pipeline on the real
database, with an engine that fails on one device."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.devices.service import register
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine, Evaluation
from tests.support.ingest import pipeline, smoke_inbound


class BrokenOnOneDevice(Engine):
    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        readings = list(readings)
        if any(r.device.id == "iso-boom" for r in readings):
            raise ValueError("a bug met by this device's reading")
        return super().evaluate(readings)


def test_a_failing_message_is_dead_lettered_and_the_rest_of_its_batch_is_stored(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": d, "kind": "smoke_detector", "community": "iso"} for d in ("iso-ok", "iso-boom")])
    acked: list[int] = []
    now = datetime.now(UTC)
    batch = [smoke_inbound("iso", d, seq, now) for seq, d in ((1, "iso-ok"), (2, "iso-boom"), (3, "iso-ok"))]

    pipeline(database_url, acked, engine=BrokenOnOneDevice([]))._process_or_isolate(batch, {})

    assert sorted(acked) == [1, 2, 3], "every message is acknowledged: stored or dead-lettered"
    stored = conn.execute(
        "SELECT seq FROM telemetry_smoke WHERE device_id = 'iso-ok' ORDER BY seq"
    ).fetchall()
    assert stored == [(1,), (3,)]
    reasons = conn.execute("SELECT reason FROM dead_letters WHERE topic LIKE 'sc/v1/iso/%'").fetchall()
    assert reasons == [("internal error: ValueError: a bug met by this device's reading",)]
