"""Each run of a scheduled job recorded in `job_runs`: on which worker it started and ended, and how —
ok (with what it did, as counts the dashboard words in the reader's language), failed (with the
error), or skipped because another worker held the job."""

import logging
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from hub.store import job_runs

log = logging.getLogger(__name__)

Job = Callable[[], dict[str, int] | None]
"""A job's run: what it did as counts (`{"escalated": 2}`), or None when another worker holds the job."""
_ERROR_CHARS = 500


def recorded(pool: ConnectionPool, worker: str, name: str, job: Job) -> Callable[[], None]:
    """`job` as the scheduler runs it, with its run recorded. A database that is away costs only the
    record (a job that needs the database fails by itself, and that failure is recorded when it can be)."""

    def run() -> None:
        run_id = _started(pool, name, worker)
        outcome, done, error = "failed", None, None
        try:
            done = job()
            outcome = "skipped" if done is None else "ok"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
            raise
        finally:
            if run_id is not None:
                _finished(pool, run_id, outcome, done or {}, error)

    return run


def _started(pool: ConnectionPool, name: str, worker: str) -> int | None:
    try:
        with pool.connection() as conn:
            return job_runs.started(conn, name, worker)
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("cannot record the start of job %s: %s", name, exc)
        return None


def _finished(
    pool: ConnectionPool, run_id: int, outcome: str, done: dict[str, int], error: str | None
) -> None:
    try:
        with pool.connection() as conn:
            job_runs.finished(conn, run_id, outcome, done, error)
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("cannot record the end of job run %d: %s", run_id, exc)
