"""Runs of the scheduled jobs: one row per run and worker, on the database's clock."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


def started(conn: psycopg.Connection[Any], job: str, worker: str) -> int:
    row = conn.execute(
        "INSERT INTO job_runs (job, worker_id) VALUES (%s, %s) RETURNING id", (job, worker)
    ).fetchone()
    assert row is not None
    return int(row[0])


def finished(
    conn: psycopg.Connection[Any], run_id: int, outcome: str, done: dict[str, int], error: str | None
) -> None:
    conn.execute(
        "UPDATE job_runs SET finished_at = clock_timestamp(), outcome = %s, done = %s, error = %s WHERE id = %s",
        (outcome, Jsonb(done), error, run_id),
    )


def summary(conn: psycopg.Connection[Any], jobs: list[str], since: datetime) -> list[dict[str, Any]]:
    """Per job: its latest run that was not skipped (on any worker), and its runs since `since` by
    outcome."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT j.job, l.id, l.worker_id, l.started_at, l.finished_at, l.outcome, l.done, l.error,
                   coalesce(c.counts, '{}'::jsonb) AS since_counts
            FROM unnest(%(jobs)s::text[]) AS j(job)
            LEFT JOIN LATERAL (
                SELECT id, worker_id, started_at, finished_at, outcome, done, error FROM job_runs r
                WHERE r.job = j.job AND r.outcome <> 'skipped' ORDER BY started_at DESC LIMIT 1
            ) l ON true
            LEFT JOIN LATERAL (
                SELECT jsonb_object_agg(outcome, n) AS counts FROM (
                    SELECT outcome, count(*) AS n FROM job_runs r
                    WHERE r.job = j.job AND r.started_at >= %(since)s GROUP BY outcome) o
            ) c ON true
            ORDER BY j.job
            """,
            {"jobs": jobs, "since": since},
        ).fetchall()


def recent(
    conn: psycopg.Connection[Any], limit: int, *, include_skipped: bool = False
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, job, worker_id, started_at, finished_at, outcome, done, error FROM job_runs "
            "WHERE %s OR outcome <> 'skipped' ORDER BY started_at DESC, id DESC LIMIT %s",
            (include_skipped, limit),
        ).fetchall()


def delete_before(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    return conn.execute("DELETE FROM job_runs WHERE started_at < %s", (cutoff,)).rowcount
