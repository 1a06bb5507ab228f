"""Telemetry history of one device: raw readings, or per-bucket aggregates computed with `time_bucket`.

Booleans are aggregated as 0/1, so a bucket's `avg` is the fraction of readings that were true — the
same convention as the rollup tables, so answers do not change shape with their source.
"""

from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from pydantic import BaseModel

from hub.domain.contract import GateTelemetry, LamppostTelemetry, ManholeTelemetry, SmokeTelemetry
from hub.domain.devices import DeviceKind
from hub.store.maintenance import bucket_start, get_watermark
from hub.store.telemetry import TELEMETRY_TABLES

MetricType = Literal["number", "boolean"]
_HOUR = timedelta(hours=1)

_CONTRACT: dict[DeviceKind, type[BaseModel]] = {
    DeviceKind.SMOKE_DETECTOR: SmokeTelemetry,
    DeviceKind.LAMPPOST: LamppostTelemetry,
    DeviceKind.MANHOLE: ManholeTelemetry,
    DeviceKind.ACCESS_GATE: GateTelemetry,
}


def _metric_types(kind: DeviceKind) -> dict[str, MetricType]:
    """Typed from the device contract, which is what decided the column types in the first place."""
    fields = _CONTRACT[kind].model_fields
    return {
        column: "boolean" if fields[column].annotation is bool else "number"
        for column in TELEMETRY_TABLES[kind].columns
    }


METRICS: dict[DeviceKind, dict[str, MetricType]] = {kind: _metric_types(kind) for kind in DeviceKind}


def raw(
    conn: psycopg.Connection[Any],
    kind: DeviceKind,
    device_id: str,
    metrics: list[str],
    start: datetime,
    end: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """Readings in [start, end), oldest first, at most `limit` of them."""
    query = sql.SQL(
        "SELECT time, {cols} FROM {table} WHERE device_id = %s AND time >= %s AND time < %s "
        "ORDER BY time, seq LIMIT %s"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(m) for m in metrics),
        table=sql.Identifier(TELEMETRY_TABLES[kind].name),
    )
    rows = conn.execute(query, (device_id, start, end, limit)).fetchall()
    return [{"t": row[0], **dict(zip(metrics, row[1:], strict=True))} for row in rows]


def aggregated(
    conn: psycopg.Connection[Any],
    kind: DeviceKind,
    device_id: str,
    metrics: list[str],
    start: datetime,
    end: datetime,
    width: timedelta,
) -> list[dict[str, Any]]:
    """One point per non-empty bucket in [start, end), labelled with the bucket's start; a metric with
    no readings in a bucket (an optional sensor) is None there."""
    types = METRICS[kind]
    columns = []
    for m in metrics:
        value = sql.Identifier(m) if types[m] == "number" else sql.SQL("{}::int").format(sql.Identifier(m))
        columns.append(sql.SQL("count({v}), avg({v})::float8, min({v}), max({v})").format(v=value))
    query = sql.SQL(
        "SELECT time_bucket(%s, time) AS t, {cols} FROM {table} "
        "WHERE device_id = %s AND time >= %s AND time < %s GROUP BY t ORDER BY t"
    ).format(cols=sql.SQL(", ").join(columns), table=sql.Identifier(TELEMETRY_TABLES[kind].name))
    points = []
    for row in conn.execute(query, (width, device_id, start, end)):
        point: dict[str, Any] = {"t": row[0]}
        for i, m in enumerate(metrics):
            n, avg, low, high = row[1 + 4 * i : 5 + 4 * i]
            point[m] = {"n": n, "avg": avg, "min": low, "max": high} if n else None
        points.append(point)
    return points


def buckets(
    conn: psycopg.Connection[Any],
    kind: DeviceKind,
    device_id: str,
    metrics: list[str],
    start: datetime,
    end: datetime,
    width: timedelta,
) -> list[dict[str, Any]]:
    """Hourly and daily buckets come from the hourly rollup for the whole hours it has finished, and
    from the raw readings for the rest of the range (its ragged ends and the last hours)."""
    # every hour before the rollup job's watermark is complete in telemetry_1h
    rolled = get_watermark(conn, "telemetry_1h") if width >= _HOUR else None
    lo = bucket_start(start, _HOUR)
    lo = lo if lo == start else lo + _HOUR
    hi = bucket_start(min(end, rolled), _HOUR) if rolled is not None else lo
    if hi <= lo:
        return aggregated(conn, kind, device_id, metrics, start, end, width)
    parts = [from_hourly_rollup(conn, device_id, metrics, lo, hi, width)]
    if start < lo:
        parts.append(aggregated(conn, kind, device_id, metrics, start, lo, width))
    if hi < end:
        parts.append(aggregated(conn, kind, device_id, metrics, hi, end, width))
    return merge(*parts)


def from_hourly_rollup(
    conn: psycopg.Connection[Any],
    device_id: str,
    metrics: list[str],
    start: datetime,
    end: datetime,
    width: timedelta,
) -> list[dict[str, Any]]:
    """Like `aggregated`, from the hourly rollup: [start, end) on hour boundaries, `width` whole hours.
    Each hour's mean is weighted by its count, so the result equals the raw aggregate of the readings
    the rollup holds."""
    rows = conn.execute(
        "SELECT time_bucket(%s, bucket) AS t, metric, sum(n)::bigint, sum(avg * n) / sum(n), min(min), max(max) "
        "FROM telemetry_1h WHERE device_id = %s AND metric = ANY(%s) AND bucket >= %s AND bucket < %s "
        "GROUP BY 1, 2 ORDER BY 1",
        (width, device_id, metrics, start, end),
    ).fetchall()
    points: dict[datetime, dict[str, Any]] = {}
    for t, metric, n, avg, low, high in rows:
        point = points.setdefault(t, {"t": t, **dict.fromkeys(metrics)})
        point[metric] = {"n": int(n), "avg": avg, "min": low, "max": high}
    return list(points.values())


def merge(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join aggregated points from adjacent ranges; a bucket split between two of them is combined."""
    out: dict[datetime, dict[str, Any]] = {}
    for part in parts:
        for point in part:
            have = out.get(point["t"])
            if have is None:
                out[point["t"]] = dict(point)
                continue
            for metric, agg in point.items():
                if metric == "t" or agg is None:
                    continue
                old = have.get(metric)
                have[metric] = agg if old is None else _combined(old, agg)
    return [out[t] for t in sorted(out)]


def _combined(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    n = a["n"] + b["n"]
    return {
        "n": n,
        "avg": (a["avg"] * a["n"] + b["avg"] * b["n"]) / n,
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
    }
