"""The scheduler and its jobs. Each job takes a transaction-scoped advisory lock, so with several hub
workers only one runs a given job at a time."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from psycopg_pool import ConnectionPool

from hub.jobs import escalation, maintenance
from hub.settings import Settings
from hub.store import devices as device_store

log = logging.getLogger(__name__)

_OFFLINE_LOCK = 0x5C_4855_4202


def mark_silent_devices_offline(
    conn: psycopg.Connection[Any], silence: timedelta, now: datetime
) -> list[str]:
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_OFFLINE_LOCK,)).fetchone()
        if not got or not got[0]:
            return []
        stale = device_store.stale_online_devices(conn, now - silence)
        return device_store.set_offline(conn, stale, now, f"no message for {silence.total_seconds():g}s")


def start(settings: Settings, pool: ConnectionPool) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)

    def offline_check() -> None:
        with pool.connection() as conn:
            went = mark_silent_devices_offline(
                conn, timedelta(seconds=settings.offline_after_s), datetime.now(UTC)
            )
        if went:
            log.info("%d device(s) went offline", len(went))

    scheduler.add_job(
        offline_check,
        "interval",
        seconds=settings.offline_check_interval_s,
        id="offline-check",
        max_instances=1,
        coalesce=True,
    )

    policy = maintenance.RetentionPolicy.from_settings(settings)

    def retention() -> None:
        with pool.connection() as conn:
            done = maintenance.run_retention(conn, policy, datetime.now(UTC))
        if done and any(done.values()):
            log.info("retention removed %s", {k: v for k, v in done.items() if v})

    def rollups() -> None:
        with pool.connection() as conn:
            maintenance.run_rollups(conn, datetime.now(UTC))

    scheduler.add_job(
        retention,
        "interval",
        seconds=settings.retention_interval_s,
        # soon after start too: a hub restarted more often than the interval would otherwise never expire data
        next_run_time=datetime.now(UTC) + timedelta(minutes=1),
        id="retention",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        rollups,
        "interval",
        seconds=settings.rollup_interval_s,
        id="rollups",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        escalation.run,
        "interval",
        args=[pool],
        seconds=settings.escalation_interval_s,
        id="case-escalation",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
