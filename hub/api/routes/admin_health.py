"""One answer for the health page: ingest rate and counters, queues, dead letters, broker and database
state, partition leases and workers, and scheduled job runs. `/metrics` serves the same counters to
Prometheus; this is for people."""

from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from hub.api import reads
from hub.api.deps import AppSettings, Conn, require
from hub.domain.health import WorkerState
from hub.domain.roles import VERIFIERS
from hub.domain.users import User
from hub.ingest.metrics import IngestMetrics
from hub.services import health as health_service

router = APIRouter(tags=["health"])


class Rate(BaseModel):
    at: datetime
    received_per_s: float
    stored_per_s: float
    dead_lettered_per_s: float


class Session(BaseModel):
    partition: int
    subscribed: bool


class Ingest(BaseModel):
    state: str = Field(description="subscribed, waiting for broker, or off (this worker takes no ingest)")
    sessions: list[Session] = Field(description="this worker's MQTT sessions, one per partition it serves")
    counters: dict[str, Any] | None = Field(description="this worker's ingest counters since it started")
    rates: list[Rate] = Field(description="messages a second over the last minute, a point every 2 s")


class StandbyOut(BaseModel):
    up: bool = Field(
        description="it gave this worker a connection; false: the read-heavy routes read on the primary"
    )
    in_recovery: bool | None = Field(description="false: it is no standby (promoted, or the primary's URL)")
    replay_paused: bool | None = Field(description="replay paused (pg_wal_replay_pause)")
    replay_lag_s: float | None = Field(
        description="0 when it has replayed all it received, else the age of the last transaction replayed"
    )
    behind_bytes: int | None = Field(description="write-ahead log on the primary not yet replayed on it")


class Database(BaseModel):
    latency_ms: float = Field(description="a round trip from this worker")
    pool: dict[str, int] = Field(description="this worker's connection pool (psycopg_pool statistics)")
    standby: StandbyOut | None = Field(
        description="the standby of HUB_DATABASE_READ_URL; null: none configured"
    )


class DeadLetters(BaseModel):
    reason: str = Field(description="the first word of the reason, as `/metrics` counts them")
    count: int
    latest_at: datetime
    latest: str = Field(description="the latest reason in full")


class Lease(BaseModel):
    partition: int
    owner: str | None
    lease_until: datetime | None
    expired: bool
    taken: int = Field(description="how often a worker took this partition over")


class Worker(BaseModel):
    worker_id: str
    heartbeat_at: datetime | None = Field(description="its ingest heartbeat; null on an API-only worker")
    alive: bool
    partitions: list[int]
    rules: dict[str, Any] | None = Field(description="the rules it has in force, as in GET /rules/files")


class Run(BaseModel):
    id: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str = Field(description="running, ok, failed, or skipped (another worker ran it)")
    done: dict[str, int] = Field(description='what an ok run did, as counts: {"escalated": 2}')
    error: str | None = Field(description="why a run failed")


class JobRun(Run):
    job: str


class Job(BaseModel):
    job: str
    last: Run | None = Field(description="its latest run that was not skipped, on any worker")
    runs: dict[str, int] = Field(description="runs in the last 24 h by outcome")
    next_run_at: datetime | None = Field(description="on this worker")


class CommunityRate(BaseModel):
    community: str
    alerts: int = Field(description="alerts opened in the window (the hub's clock)")
    cases: int = Field(description="cases opened in the window, storm-folded ones included")
    flood: bool = Field(description="more than `flood_above` of either")


class Floods(BaseModel):
    window_s: int = Field(description="the window counted: 600 s")
    flood_above: int = Field(description="more than this many new alarms in the window is a flood (ISA-18.2)")
    communities: list[CommunityRate] = Field(description="communities with any new alert or case")


class HealthOut(BaseModel):
    at: datetime
    worker: str | None = Field(description="the worker that answered")
    ingest: Ingest
    database: Database
    dead_letters: list[DeadLetters] = Field(description="refused messages in the last 24 h, all workers")
    floods: Floods = Field(description="new alerts and cases per community over the last 10 minutes")
    notifications: dict[str, dict[str, int]] = Field(description="pending and dead per channel")
    partitions: list[Lease]
    workers: list[Worker]
    jobs: list[Job]
    job_runs: list[JobRun] = Field(description="the latest runs that were not skipped")


@router.get("/admin/health", response_model=HealthOut)
def admin_health(
    request: Request,
    conn: Conn,
    settings: AppSettings,
    _user: Annotated[User, Depends(require(*VERIFIERS))],
) -> dict[str, Any]:
    """Everything the health page shows, for admins and operators; refresh it every few seconds."""
    metrics: IngestMetrics | None = request.app.state.metrics
    state = request.app.state.worker_state
    here: WorkerState | None = state() if state is not None else None
    return health_service.overview(
        conn,
        here=here,
        counters=None if metrics is None else _counters(metrics),
        lease_ttl_s=settings.lease_ttl_s,
        pool={
            k: v
            for k, v in request.app.state.pool.get_stats().items()
            if k.startswith("pool_") or k == "requests_waiting"
        },
        standby=reads.health(request.app.state.standby, conn),
    )


def _counters(m: IngestMetrics) -> dict[str, Any]:
    """A snapshot while the pipeline thread keeps counting: numbers are read one by one, the reasons
    copied at once."""
    out: dict[str, Any] = {f.name: getattr(m, f.name) for f in fields(m) if f.name != "dead_letter_reasons"}
    out["dead_letter_reasons"] = dict(m.dead_letter_reasons)
    out["commit_seconds_avg"] = m.commit_seconds_sum / m.batches if m.batches else 0.0
    return out
