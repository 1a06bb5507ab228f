"""Retention and rollup queries, built only on TimescaleDB's Apache-edition features (drop_chunks,
time_bucket, hypertables), so they work on every edition, including builds where compression,
continuous aggregates and retention policies are refused. `hub.jobs.maintenance` decides when they run."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

RollupTable = Literal["telemetry_1m", "telemetry_1h"]
BUCKET: dict[RollupTable, timedelta] = {
    "telemetry_1m": timedelta(minutes=1),
    "telemetry_1h": timedelta(hours=1),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMERIC = frozenset({"smallint", "integer", "bigint", "real", "double precision", "numeric"})

_UPSERT = """
ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
    community_id = excluded.community_id, n = excluded.n, avg = excluded.avg,
    min = excluded.min, max = excluded.max, last = excluded.last
WHERE (r.community_id, r.n, r.avg, r.min, r.max, r.last)
    IS DISTINCT FROM (excluded.community_id, excluded.n, excluded.avg, excluded.min, excluded.max, excluded.last)
"""

_FROM_RAW = (
    """
INSERT INTO {target} AS r (bucket, device_id, community_id, metric, n, avg, min, max, last)
SELECT time_bucket(%(width)s::interval, s.time), s.device_id,
       (array_agg(s.community_id ORDER BY s.time DESC, s.seq DESC))[1],
       v.metric, count(*), avg(v.value), min(v.value), max(v.value),
       (array_agg(v.value ORDER BY s.time DESC, s.seq DESC))[1]
FROM {source} AS s CROSS JOIN LATERAL (VALUES {values}) AS v (metric, value)
WHERE s.time >= %(from_)s AND s.time < %(to_)s AND v.value IS NOT NULL
GROUP BY 1, s.device_id, v.metric
"""
    + _UPSERT
)

_FROM_MINUTES = (
    """
INSERT INTO {target} AS r (bucket, device_id, community_id, metric, n, avg, min, max, last)
SELECT time_bucket(%(width)s::interval, m.bucket), m.device_id,
       (array_agg(m.community_id ORDER BY m.bucket DESC))[1],
       m.metric, sum(m.n), sum(m.avg * m.n) / sum(m.n), min(m.min), max(m.max),
       (array_agg(m.last ORDER BY m.bucket DESC))[1]
FROM telemetry_1m AS m
WHERE m.bucket >= %(from_)s AND m.bucket < %(to_)s AND m.metric = ANY(%(metrics)s)
GROUP BY 1, m.device_id, m.metric
"""
    + _UPSERT
)


def drop_old_chunks(conn: psycopg.Connection[Any], table: str, older_than: timedelta, now: datetime) -> int:
    """Drop the chunks of hypertable `table` that hold only data older than `older_than` before `now`;
    returns how many went.

    Dropping chunks is a catalog operation, unlike DELETE: it costs the same however much data goes and
    leaves nothing to vacuum. The cutoff comes from the caller's `now`, not the server clock, so one job
    run applies one clock to every table. A chunk goes only once all of it is past the cutoff, so data
    outlives its limit by up to one chunk interval."""
    row = conn.execute(
        "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::timestamptz)",
        (table, now - older_than),
    ).fetchone()
    return int(row[0]) if row else 0


def delete_old_dead_letters(conn: psycopg.Connection[Any], older_than: timedelta, now: datetime) -> int:
    """dead_letters is a plain table (it is small and keyed by id), so it expires by DELETE."""
    return conn.execute("DELETE FROM dead_letters WHERE received_at < %s", (now - older_than,)).rowcount


def get_watermark(conn: psycopg.Connection[Any], job: str) -> datetime | None:
    row = conn.execute("SELECT done_until FROM job_watermarks WHERE job = %s", (job,)).fetchone()
    return row[0] if row else None


def set_watermark(conn: psycopg.Connection[Any], job: str, done_until: datetime) -> None:
    conn.execute(
        "INSERT INTO job_watermarks (job, done_until) VALUES (%s, %s)"
        " ON CONFLICT (job) DO UPDATE SET done_until = excluded.done_until",
        (job, done_until),
    )


def earliest(conn: psycopg.Connection[Any], table: str, column: str) -> datetime | None:
    """Where a job with no watermark yet starts, so data stored before it was deployed is rolled up too."""
    row = conn.execute(
        sql.SQL("SELECT min({}) FROM {}").format(sql.Identifier(column), sql.Identifier(table))
    ).fetchone()
    return row[0] if row else None


def bucket_start(ts: datetime, width: timedelta) -> datetime:
    """The start of the bucket holding `ts`, as time_bucket computes it for widths that divide a day."""
    return ts - (ts - _EPOCH) % width


def rollup(
    conn: psycopg.Connection[Any],
    source_table: str,
    metrics: Sequence[str],
    target: RollupTable,
    from_: datetime,
    to_: datetime,
) -> int:
    """Recompute the `target` buckets in [from_, to_) for `metrics` of `source_table`; returns the rows
    written (inserted or changed). The upsert makes reruns idempotent: an unchanged bucket is not
    rewritten, a changed one is replaced.

    `source_table` is a raw telemetry table (metrics are its numeric or boolean columns; booleans count
    as 0/1) or, for the hourly rollup, `telemetry_1m`. The hourly rollup reads the minute rollup rather
    than raw data because that is 60 rows per device and metric per hour whatever the reporting rate, one
    query covers every kind, and nothing is lost: the n-weighted mean of minute means is the mean of the
    readings, and min, max and last compose exactly. The price is an ordering rule the job keeps: an hour
    is rolled up only after all its minutes are.

    The range must lie on bucket boundaries: a partial bucket would overwrite a complete one."""
    width = BUCKET[target]
    for ts in (from_, to_):
        if bucket_start(ts, width) != ts:
            raise ValueError(f"{ts.isoformat()} is not on a {target} bucket boundary")
    if to_ <= from_ or not metrics:
        return 0
    params: dict[str, Any] = {"width": width, "from_": from_, "to_": to_, "metrics": list(metrics)}
    if source_table == "telemetry_1m":
        if target != "telemetry_1h":
            raise ValueError("telemetry_1m rolls up only into telemetry_1h")
        query = sql.SQL(_FROM_MINUTES).format(target=sql.Identifier(target))
    else:
        query = sql.SQL(_FROM_RAW).format(
            target=sql.Identifier(target),
            source=sql.Identifier(source_table),
            values=sql.SQL(", ").join(_metric_values(conn, source_table, metrics)),
        )
    return conn.execute(query, params).rowcount


def _metric_values(conn: psycopg.Connection[Any], table: str, metrics: Sequence[str]) -> list[sql.Composed]:
    """One `(metric name, value as float8)` row per metric for the unpivot, typed from the catalog so a
    boolean becomes 0/1 and a column that is neither numeric nor boolean is refused."""
    types: dict[str, str] = dict(
        conn.execute(
            "SELECT attname::text, atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attname = ANY(%s)",
            (table, list(metrics)),
        ).fetchall()
    )
    values = []
    for metric in metrics:
        column = sql.SQL("s.") + sql.Identifier(metric)
        kind = types.get(metric)
        if kind == "boolean":
            value = sql.SQL("({})::integer::float8").format(column)
        elif kind in _NUMERIC:
            value = sql.SQL("({})::float8").format(column)
        else:
            raise ValueError(f"{table}.{metric} is not a numeric or boolean column")
        values.append(sql.SQL("({}, {})").format(sql.Literal(metric), value))
    return values
