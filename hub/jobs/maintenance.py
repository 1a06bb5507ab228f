"""Retention and rollup jobs. Each run is one transaction holding a transaction-scoped advisory lock, so
with several hub workers only one runs a given job at a time, and a crash or a lost worker leaves
nothing half done: the watermarks move in the same transaction as the rows they describe."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.settings import Settings
from hub.store import audit, idempotency, job_runs, outbox
from hub.store import maintenance as store
from hub.store.telemetry import TELEMETRY_TABLES

RETENTION_LOCK = 0x5C_4855_4210
ROLLUP_LOCK = 0x5C_4855_4211

ROLLUP_LAG = timedelta(minutes=2)
ROLLUP_STEP: dict[store.RollupTable, timedelta] = {
    "telemetry_1m": timedelta(hours=1),
    "telemetry_1h": timedelta(days=1),
}
ROLLUP_MAX_STEPS = 12

_RAW_SOURCES = tuple((t.name, t.columns) for t in TELEMETRY_TABLES.values())
_ALL_METRICS = tuple(sorted({c for t in TELEMETRY_TABLES.values() for c in t.columns}))


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each table keeps its data. Hypertables lose whole chunks, so their data lives up to one
    chunk interval (a day for telemetry and events, a week for status history) past its limit."""

    hypertables: Mapping[str, timedelta]
    dead_letters: timedelta
    delivered_notifications: timedelta
    audit_log: timedelta
    job_runs: timedelta
    idempotency_keys: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetentionPolicy":
        telemetry = timedelta(days=settings.retention_telemetry_days)
        return cls(
            hypertables={
                **{t.name: telemetry for t in TELEMETRY_TABLES.values()},
                "device_events": timedelta(days=settings.retention_device_events_days),
                "access_events": timedelta(days=settings.retention_access_events_days),
                "device_status_history": timedelta(days=settings.retention_status_history_days),
                "telemetry_1m": timedelta(days=settings.retention_rollup_1m_days),
                "telemetry_1h": timedelta(days=settings.retention_rollup_1h_days),
            },
            dead_letters=timedelta(days=settings.retention_dead_letters_days),
            delivered_notifications=timedelta(days=settings.retention_notifications_days),
            audit_log=timedelta(days=settings.retention_audit_days),
            job_runs=timedelta(days=settings.retention_job_runs_days),
            idempotency_keys=timedelta(days=settings.retention_idempotency_keys_days),
        )


def run_retention(
    conn: psycopg.Connection[Any], policy: RetentionPolicy, now: datetime
) -> dict[str, int] | None:
    """Returns chunks dropped per hypertable and rows deleted from dead_letters, the notification outbox
    (delivered rows only: dead ones stay listed until someone looks), audit_log, job_runs and
    idempotency_keys, or None
    when another worker holds the job."""
    with conn.transaction():
        if not _try_lock(conn, RETENTION_LOCK):
            return None
        done = {
            table: store.drop_old_chunks(conn, table, keep, now) for table, keep in policy.hypertables.items()
        }
        done["dead_letters"] = store.delete_old_dead_letters(conn, policy.dead_letters, now)
        done["notification_outbox"] = outbox.delete_delivered_before(
            conn, now - policy.delivered_notifications
        )
        done["audit_log"] = audit.delete_before(conn, now - policy.audit_log)
        done["job_runs"] = job_runs.delete_before(conn, now - policy.job_runs)
        done["idempotency_keys"] = idempotency.delete_before(conn, now - policy.idempotency_keys)
        return done


def run_rollups(conn: psycopg.Connection[Any], now: datetime) -> dict[str, int] | None:
    """Roll up buckets closed since each rollup's watermark; returns rows written per rollup table, or
    None when another worker holds the job.

    A bucket counts as closed once ROLLUP_LAG has passed since its end, so readings up to that late are
    included. Later ones stay in the raw tables but not in the rollups, whose buckets are never
    revisited: revisiting would mean rescanning raw data on every run. A run covers at most
    ROLLUP_MAX_STEPS steps per rollup table, so a backlog (or the history already stored when rollups
    are first deployed) is caught up over several runs, none of them an unbounded transaction."""
    with conn.transaction():
        if not _try_lock(conn, ROLLUP_LOCK):
            return None
        closed = now - ROLLUP_LAG
        minutes = _advance(conn, "telemetry_1m", _RAW_SOURCES, "time", closed)
        minutes_done = store.get_watermark(conn, "telemetry_1m")
        hours = 0
        if minutes_done is not None:
            sources = (("telemetry_1m", _ALL_METRICS),)
            hours = _advance(conn, "telemetry_1h", sources, "bucket", min(closed, minutes_done))
        return {"telemetry_1m": minutes, "telemetry_1h": hours}


def _advance(
    conn: psycopg.Connection[Any],
    target: store.RollupTable,
    sources: Sequence[tuple[str, Sequence[str]]],
    time_column: str,
    until: datetime,
) -> int:
    """Roll `sources` into `target` from its watermark up to the last bucket ending by `until`."""
    width = store.BUCKET[target]
    end_of_closed = store.bucket_start(until, width)
    start = store.get_watermark(conn, target)
    if start is None:
        found = [t for t in (store.earliest(conn, name, time_column) for name, _ in sources) if t is not None]
        if not found:
            return 0
        start = store.bucket_start(min(found), width)
    written = 0
    done = start
    for _ in range(ROLLUP_MAX_STEPS):
        if done >= end_of_closed:
            break
        step_end = min(done + ROLLUP_STEP[target], end_of_closed)
        for source, metrics in sources:
            written += store.rollup(conn, source, metrics, target, done, step_end)
        done = step_end
    if done != start:
        store.set_watermark(conn, target, done)
    return written


def _try_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])
