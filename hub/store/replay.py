"""Stored telemetry and events read back as rule-engine readings, in time order, for replays."""

import heapq
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from hub.domain.devices import DeviceRef
from hub.domain.readings import Reading
from hub.store.telemetry import ACCESS_EVENTS, DEVICE_EVENTS, TELEMETRY_TABLES, Table

_FETCH = 5000


def stored_readings(
    conn: psycopg.Connection[Any],
    registry: Mapping[str, DeviceRef],
    start: datetime,
    end: datetime,
    device_ids: list[str] | None = None,
) -> Iterator[Reading]:
    """Every stored reading with start <= time < end, merged across tables by device time. Server-side
    cursors keep memory flat over long ranges; they live in one transaction."""
    with conn.transaction():
        streams = [
            _table(conn, registry, t, "telemetry", start, end, device_ids) for t in TELEMETRY_TABLES.values()
        ]
        streams.append(_table(conn, registry, DEVICE_EVENTS, "event", start, end, device_ids))
        streams.append(_table(conn, registry, ACCESS_EVENTS, "event", start, end, device_ids))
        yield from heapq.merge(*streams, key=lambda r: r.ts)


def count_readings(
    conn: psycopg.Connection[Any], start: datetime, end: datetime, device_ids: list[str] | None
) -> int:
    total = 0
    for table in (*TELEMETRY_TABLES.values(), DEVICE_EVENTS, ACCESS_EVENTS):
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE time >= %s AND time < %s AND (%s::text[] IS NULL OR device_id = ANY(%s))"
            ).format(sql.Identifier(table.name)),
            (start, end, device_ids, device_ids),
        ).fetchone()
        total += int(row[0]) if row else 0
    return total


def _table(
    conn: psycopg.Connection[Any],
    registry: Mapping[str, DeviceRef],
    table: Table,
    source: str,
    start: datetime,
    end: datetime,
    device_ids: list[str] | None,
) -> Iterator[Reading]:
    columns = [c for c in table.columns if c != "person_pseudonym"]
    query = sql.SQL(
        "SELECT time, device_id, {cols} FROM {table} WHERE time >= %s AND time < %s "
        "AND (%s::text[] IS NULL OR device_id = ANY(%s)) ORDER BY time, seq"
    ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns), table=sql.Identifier(table.name))
    extra = {"event": "access"} if table is ACCESS_EVENTS else {}
    with conn.cursor(name=f"replay_{table.name}") as cur:
        cur.itersize = _FETCH
        cur.execute(query, (start, end, device_ids, device_ids))
        for row in cur:
            device = registry.get(row[1])
            if device is not None:
                yield Reading(device, row[0], dict(zip(columns, row[2:], strict=True)) | extra, source)
