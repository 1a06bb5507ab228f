"""The scheduler and its jobs. Each job takes a transaction-scoped advisory lock, so with several hub
workers only one runs a given job at a time; every run is recorded (`hub.jobs.runs`)."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg_pool import ConnectionPool

from hub.cases import config as dispatch_config
from hub.jobs import escalation, maintenance, runs, stragglers
from hub.settings import Settings
from hub.store import devices as device_store

log = logging.getLogger(__name__)

_OFFLINE_LOCK = 0x5C_4855_4202
RECORDED = ("offline-check", "retention", "rollups", "case-escalation", "outage-stragglers")
"""The jobs below, whose runs are recorded in `job_runs`."""


def mark_silent_devices_offline(
    conn: psycopg.Connection[Any], silence: timedelta, now: datetime
) -> list[str] | None:
    """The devices that went offline now, or None when another worker holds the job."""
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_OFFLINE_LOCK,)).fetchone()
        if not got or not got[0]:
            return None
        stale = device_store.stale_online_devices(conn, now - silence)
        return device_store.set_offline(conn, stale, now, f"no message for {silence.total_seconds():g}s")


def start(settings: Settings, pool: ConnectionPool) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)

    def add(job: runs.Job, name: str, seconds: int, **extra: Any) -> None:
        scheduler.add_job(
            runs.recorded(pool, settings.worker_name, name, job),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            **extra,
        )

    def offline_check() -> dict[str, int] | None:
        with pool.connection() as conn:
            went = mark_silent_devices_offline(
                conn, timedelta(seconds=settings.offline_after_s), datetime.now(UTC)
            )
        if went:
            log.info("%d device(s) went offline", len(went))
        return None if went is None else {"went_offline": len(went)}

    policy = maintenance.RetentionPolicy.from_settings(settings)

    def retention() -> dict[str, int] | None:
        with pool.connection() as conn:
            done = maintenance.run_retention(conn, policy, datetime.now(UTC))
        if done and any(done.values()):
            log.info("retention removed %s", {k: v for k, v in done.items() if v})
        return done

    def rollups() -> dict[str, int] | None:
        with pool.connection() as conn:
            return maintenance.run_rollups(conn, datetime.now(UTC))

    add(offline_check, "offline-check", settings.offline_check_interval_s)
    add(
        retention,
        "retention",
        settings.retention_interval_s,
        # soon after start too: a hub restarted more often than the interval would otherwise never expire data
        next_run_time=datetime.now(UTC) + timedelta(minutes=1),
    )
    add(rollups, "rollups", settings.rollup_interval_s)
    add(lambda: escalation.run(pool), "case-escalation", settings.escalation_interval_s)
    add(
        lambda: stragglers.run(pool, lambda: dispatch_config.current(settings.routing_file)),
        "outage-stragglers",
        settings.stragglers_interval_s,
    )
    scheduler.start()
    return scheduler
