"""A bug met by one message must not stop ingest nor lose the others: the real pipeline on the real
database, with an engine that fails on one device."""

import json
import queue
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases.config import DispatchConfig
from hub.devices.service import register
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine, Evaluation
from hub.ingest.database import IngestDatabase
from hub.ingest.inbound import Inbound
from hub.ingest.metrics import IngestMetrics
from hub.ingest.pipeline import Pipeline, PipelineConfig


class BrokenOnOneDevice(Engine):
    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        readings = list(readings)
        if any(r.device.id == "iso-boom" for r in readings):
            raise ValueError("a bug met by this device's reading")
        return super().evaluate(readings)


def message(device: str, mid: int) -> Inbound:
    body = {
        "device_id": device,
        "ts": datetime.now(UTC).isoformat(),
        "seq": mid,
        "smoke_obscuration_pct_per_m": 0.1,
        "temperature_c": 21.0,
        "battery_pct": 90.0,
        "alarm": False,
    }
    return Inbound(
        f"sc/v1/iso/smoke_detector/{device}/telemetry", json.dumps(body).encode(), mid, 1, datetime.now(UTC)
    )


def test_a_failing_message_is_dead_lettered_and_the_rest_of_its_batch_is_stored(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": d, "kind": "smoke_detector", "community": "iso"} for d in ("iso-ok", "iso-boom")])
    acked: list[int] = []
    metrics = IngestMetrics()
    pipeline = Pipeline(
        PipelineConfig(
            prefix="sc/v1",
            batch_max_rows=10,
            batch_max_delay_s=0.05,
            dead_letter_bytes=64,
            pseudonym_key=b"k",
        ),
        database=IngestDatabase(database_url, metrics),
        engine=BrokenOnOneDevice([]),
        inbox=queue.Queue(),
        ack=lambda ms: acked.extend(m.mid for m in ms),
        dispatch=DispatchConfig,
        metrics=metrics,
    )
    batch = [message("iso-ok", 1), message("iso-boom", 2), message("iso-ok", 3)]

    pipeline._process_or_isolate(batch, {})

    assert sorted(acked) == [1, 2, 3], "every message is acknowledged: stored or dead-lettered"
    stored = conn.execute(
        "SELECT seq FROM telemetry_smoke WHERE device_id = 'iso-ok' ORDER BY seq"
    ).fetchall()
    assert stored == [(1,), (3,)]
    reasons = conn.execute("SELECT reason FROM dead_letters WHERE topic LIKE 'sc/v1/iso/%'").fetchall()
    assert reasons == [("internal error: ValueError: a bug met by this device's reading",)]
