"""Ingest counters, written by the pipeline thread and read by the `/metrics` endpoint."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hub.domain.alerts import AlertOpened, Transition
from hub.domain.deadletters import reason_code


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

    def count_batch(self, received: int, offered: int, stored: int, refusals: Sequence[str]) -> None:
        """A committed batch: messages taken, rows offered and newly stored, refusal reasons."""
        self.received += received
        self.stored += stored
        self.duplicates += offered - stored
        self.dead_lettered += len(refusals)
        for reason in refusals:
            key = reason_code(reason)
            self.dead_letter_reasons[key] = self.dead_letter_reasons.get(key, 0) + 1
        self.batches += 1
        self.batch_rows_sum += received

    def count_commit(self, seconds: float) -> None:
        self.commit_seconds_sum += seconds
        self.commit_seconds_max = max(self.commit_seconds_max, seconds)

    def count_transitions(self, transitions: Iterable[Transition]) -> None:
        for t in transitions:
            if isinstance(t, AlertOpened):
                self.alerts_opened += 1
            else:
                self.alerts_cleared += 1
