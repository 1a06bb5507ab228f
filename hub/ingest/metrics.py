"""Ingest counters, written by the pipeline thread and read by the `/metrics` endpoint."""

from dataclasses import dataclass, field


@dataclass
class IngestMetrics:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    batch_rows_sum: int = 0
    commit_seconds_sum: float = 0.0
    commit_seconds_max: float = 0.0
    db_errors: int = 0
    db_reconnects: int = 0
    broker_connects: int = 0
    alerts_opened: int = 0
    alerts_cleared: int = 0
    queue_depth: int = 0
