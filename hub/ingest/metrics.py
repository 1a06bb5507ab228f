"""Ingest counters, written by the pipeline thread and read by the `/metrics` endpoint, and their rates
for the health page."""

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

from hub.domain.alerts import AlertOpened, Transition
from hub.domain.deadletters import reason_code
from hub.domain.health import RatePoint


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


class RateMeter:
    """Samples of the counters taken every few seconds (the hub's scheduler calls `sample`), the last
    `keep` of them kept: a rate is the difference of two samples over the time between them."""

    def __init__(self, metrics: IngestMetrics, keep: int = 31) -> None:
        self._metrics = metrics
        self._samples: deque[tuple[float, datetime, int, int, int]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def sample(self) -> None:
        m = self._metrics
        with self._lock:
            self._samples.append((time.monotonic(), datetime.now(UTC), m.received, m.stored, m.dead_lettered))

    def series(self) -> list[RatePoint]:
        with self._lock:
            samples = list(self._samples)
        return [
            RatePoint(at, (rec - rec0) / (t - t0), (st - st0) / (t - t0), (dl - dl0) / (t - t0))
            for (t0, _, rec0, st0, dl0), (t, at, rec, st, dl) in pairwise(samples)
            if t > t0
        ]
