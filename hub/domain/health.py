"""What one hub worker knows only of itself, for the health page: its ingest rates, its MQTT sessions and
its scheduled jobs. The rest (leases, workers, job runs, dead letters) every worker reads from the
database."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RatePoint:
    """Messages a second between two samples of the ingest counters, at the later one."""

    at: datetime
    received_per_s: float
    stored_per_s: float
    dead_lettered_per_s: float


@dataclass(frozen=True)
class WorkerState:
    worker: str
    ingest: str
    """`subscribed`, `waiting for broker`, or `off` on a worker that takes no ingest"""
    sessions: dict[int, bool]
    """the ingest partitions this worker serves: whether its MQTT session is subscribed"""
    rates: list[RatePoint]
    next_runs: dict[str, datetime | None]
    """scheduled job → its next run on this worker"""
