"""Batched, idempotent writes of telemetry and events: COPY into a per-connection staging table, then
one INSERT … ON CONFLICT DO NOTHING per hypertable, returning the rows that were new.

Rows are copied in PostgreSQL's binary format, with each column's type read from the catalogue once
per connection (the schema stays the one place that declares them): formatting a row as text cost the
hub about 4 µs of CPU, the binary form under 1 µs."""

import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from hub.domain.devices import DeviceKind

Key = tuple[str, datetime, int]
_ENVELOPE = ("time", "device_id", "seq", "received_at", "community_id")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]

    @property
    def all_columns(self) -> tuple[str, ...]:
        return _ENVELOPE + self.columns


TELEMETRY_TABLES: dict[DeviceKind, Table] = {
    DeviceKind.SMOKE_DETECTOR: Table(
        "telemetry_smoke",
        (
            "smoke_obscuration_pct_per_m",
            "temperature_c",
            "battery_pct",
            "alarm",
            "fault",
            "tamper",
            "test_button",
            "rssi_dbm",
        ),
    ),
    DeviceKind.LAMPPOST: Table(
        "telemetry_lamppost",
        (
            "lamp_on",
            "dim_level_pct",
            "power_w",
            "voltage_v",
            "current_a",
            "pole_tilt_deg",
            "cabinet_door_open",
            "pm25_ug_m3",
            "noise_db",
            "emergency_call",
            "rssi_dbm",
        ),
    ),
    DeviceKind.MANHOLE: Table(
        "telemetry_manhole",
        ("tilt_deg", "cover_open", "water_level_cm", "ch4_pct_lel", "h2s_ppm", "battery_pct", "rssi_dbm"),
    ),
    DeviceKind.ACCESS_GATE: Table("telemetry_gate", ("door_open", "uptime_s", "rssi_dbm")),
}
DEVICE_EVENTS = Table("device_events", ("event", "held_s", "count"))
ACCESS_EVENTS = Table("access_events", ("result", "method", "direction", "person_pseudonym"))
ALL_TABLES = (*TELEMETRY_TABLES.values(), DEVICE_EVENTS, ACCESS_EVENTS)


_staged: "weakref.WeakSet[psycopg.Connection[Any]]" = weakref.WeakSet()
_types: "weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, list[int]]]" = (
    weakref.WeakKeyDictionary()
)


def _column_types(conn: psycopg.Connection[Any], table: Table) -> list[int]:
    """The type oids of `table.all_columns`, as the database declares them."""
    known = _types.setdefault(conn, {})
    if table.name not in known:
        declared = dict(
            conn.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table.name,),
            ).fetchall()
        )
        known[table.name] = [declared[c] for c in table.all_columns]
    return known[table.name]


def _copy(
    conn: psycopg.Connection[Any], target: sql.Identifier, table: Table, rows: Sequence[Sequence[Any]]
) -> None:
    types = _column_types(conn, table)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.all_columns)
    with (
        conn.cursor() as cur,
        cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, cols)) as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def ensure_staging(conn: psycopg.Connection[Any]) -> None:
    """Create the per-connection staging tables once, not once per batch. Call it outside a transaction
    (the pipeline does, right after connecting): created inside one that rolls back, they would vanish
    while this connection still counts them as made."""
    if conn in _staged:
        return
    for table in ALL_TABLES:
        conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                sql.Identifier(f"stage_{table.name}"), sql.Identifier(table.name)
            )
        )
    _staged.add(conn)


def row_keys(rows: Sequence[Sequence[Any]]) -> set[Key]:
    """The distinct keys of rows in a table's column order (time, device id, seq, ...)."""
    return {(r[1], r[0], r[2]) for r in rows}


def insert_new(
    conn: psycopg.Connection[Any], table: Table, rows: Sequence[Sequence[Any]], keys: Collection[Key]
) -> Collection[Key]:
    """Insert rows, skipping ones already stored; returns the keys that were new. `keys`: the rows'
    distinct keys (device id, time, seq), which the caller has at hand; returned as they are when every
    row was new.

    Almost every batch is new data, so it is copied straight into the hypertable; only when that meets
    a row already stored (a redelivery after a crash) is the batch rolled back to a savepoint and sent
    through the staging table, which skips the duplicates."""
    if not rows:
        return set()
    if len(keys) == len(rows):
        try:
            with conn.transaction():
                _copy(conn, sql.Identifier(table.name), table, rows)
            return keys
        except psycopg.errors.UniqueViolation:
            pass
    stage = sql.Identifier(f"stage_{table.name}")
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.all_columns)
    ensure_staging(conn)
    _copy(conn, stage, table, rows)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT DISTINCT ON (device_id, time, seq) {cols} FROM {stage} "
                "ON CONFLICT DO NOTHING RETURNING device_id, time, seq"
            ).format(table=sql.Identifier(table.name), cols=cols, stage=stage)
        )
        return {(d, t, s) for d, t, s in cur.fetchall()}
