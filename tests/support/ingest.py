"""The ingest pipeline as the hub runs it, on the test database with test-sized batches, and telemetry as
the broker hands it over, for the tests that feed the pipeline without a broker."""

import json
import queue
from datetime import datetime

from hub.cases.config import DispatchConfig
from hub.engine.evaluator import Engine
from hub.ingest.database import IngestDatabase
from hub.ingest.inbound import Inbound
from hub.ingest.metrics import IngestMetrics
from hub.ingest.pipeline import Pipeline, PipelineConfig
from hub.ingest.ratelimit import RateGate
from tests.support.publisher import smoke


def smoke_inbound(community: str, device: str, seq: int, at: datetime) -> Inbound:
    """A smoke detector's ordinary reading taken at `at`, received then with QoS 1; `seq` is its MQTT id."""
    payload = json.dumps(smoke(device, seq, at=at)).encode()
    return Inbound(f"sc/v1/{community}/smoke_detector/{device}/telemetry", payload, seq, 1, at)


def pipeline(
    database_url: str,
    acked: list[int],
    *,
    engine: Engine | None = None,
    inbox: "queue.Queue[Inbound] | None" = None,
    rate_gate: RateGate | None = None,
    state_flush_s: float = 0.0,
    state_flush_max_devices: int | None = None,
) -> Pipeline:
    """Batches of up to 50 rows or 50 ms, and the ids of the messages it acknowledges appended to `acked`."""
    metrics = IngestMetrics()
    return Pipeline(
        PipelineConfig(
            prefix="sc/v1",
            batch_max_rows=50,
            batch_max_delay_s=0.05,
            dead_letter_bytes=64,
            pseudonym_key=b"k",
            state_flush_s=state_flush_s,
            state_flush_max_devices=state_flush_max_devices,
        ),
        database=IngestDatabase(database_url, metrics),
        engine=engine or Engine([]),
        inbox=inbox or queue.Queue(),
        ack=lambda messages: acked.extend(m.mid for m in messages),
        dispatch=DispatchConfig,
        metrics=metrics,
        rate_gate=rate_gate,
    )
