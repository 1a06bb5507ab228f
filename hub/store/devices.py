"""The device registry and live device state."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.domain.devices import DeviceKind, DeviceRef


@dataclass(frozen=True)
class NewDevice:
    id: str
    kind: DeviceKind
    community_id: str
    building: str | None = None
    grid: str | None = None
    plan_x: float | None = None
    plan_y: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    installed_on: date | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class StateUpdate:
    device_id: str
    last_seen: datetime
    last_seq: int | None
    battery_pct: float | None
    rssi_dbm: int | None
    last_values: str | None


def ensure_community(conn: psycopg.Connection[Any], community_id: str, name: str | None = None) -> None:
    conn.execute(
        "INSERT INTO communities (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        (community_id, name or community_id),
    )


def upsert_device(conn: psycopg.Connection[Any], d: NewDevice, password_hash: str | None) -> bool:
    """Create or update a device; returns True when it was created. A None hash keeps the old one."""
    row = conn.execute(
        """
        INSERT INTO devices (id, kind, community_id, building, grid, plan_x, plan_y, latitude, longitude,
                             installed_on, metadata, mqtt_password_hash)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (id) DO UPDATE SET
            kind = EXCLUDED.kind, community_id = EXCLUDED.community_id, building = EXCLUDED.building,
            grid = EXCLUDED.grid, plan_x = EXCLUDED.plan_x, plan_y = EXCLUDED.plan_y,
            latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
            installed_on = EXCLUDED.installed_on, metadata = EXCLUDED.metadata,
            mqtt_password_hash = COALESCE(EXCLUDED.mqtt_password_hash, devices.mqtt_password_hash)
        RETURNING (xmax = 0)
        """,
        (
            d.id,
            d.kind.value,
            d.community_id,
            d.building,
            d.grid,
            d.plan_x,
            d.plan_y,
            d.latitude,
            d.longitude,
            d.installed_on,
            json.dumps(d.metadata or {}),
            password_hash,
        ),
    ).fetchone()
    return bool(row and row[0])


def device_refs(conn: psycopg.Connection[Any]) -> dict[str, DeviceRef]:
    rows = conn.execute("SELECT id, kind, community_id, building, grid FROM devices").fetchall()
    return {r[0]: DeviceRef(r[0], DeviceKind(r[1]), r[2], r[3], r[4]) for r in rows}


def broker_credentials(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, str]]:
    """(device id, community, kind, password hash) of every device that has credentials."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT id, community_id, kind, mqtt_password_hash FROM devices "
            "WHERE mqtt_password_hash IS NOT NULL ORDER BY id"
        )
    ]


def record_seen(conn: psycopg.Connection[Any], updates: Iterable[StateUpdate]) -> list[str]:
    """Upsert live state for devices heard from; returns the ids that came (back) online."""
    ups = list(updates)
    if not ups:
        return []
    came_online = [
        r[0]
        for r in conn.execute(
            "SELECT d FROM unnest(%s::text[]) AS d WHERE NOT EXISTS "
            "(SELECT 1 FROM device_state s WHERE s.device_id = d AND s.online)",
            ([u.device_id for u in ups],),
        )
    ]
    conn.execute(
        """
        INSERT INTO device_state AS s (device_id, last_seen, last_seq, online, online_changed_at,
                                       battery_pct, rssi_dbm, last_values)
        SELECT u.device_id, u.last_seen, u.last_seq, true, u.last_seen, u.battery_pct, u.rssi_dbm,
               COALESCE(u.last_values::jsonb, '{}'::jsonb)
        FROM unnest(%s::text[], %s::timestamptz[], %s::bigint[], %s::real[], %s::smallint[], %s::text[])
             AS u(device_id, last_seen, last_seq, battery_pct, rssi_dbm, last_values)
        ON CONFLICT (device_id) DO UPDATE SET
            last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
            last_seq = COALESCE(EXCLUDED.last_seq, s.last_seq),
            online_changed_at = CASE WHEN s.online THEN s.online_changed_at ELSE EXCLUDED.last_seen END,
            online = true,
            battery_pct = COALESCE(EXCLUDED.battery_pct, s.battery_pct),
            rssi_dbm = COALESCE(EXCLUDED.rssi_dbm, s.rssi_dbm),
            last_values = s.last_values || EXCLUDED.last_values
        """,
        (
            [u.device_id for u in ups],
            [u.last_seen for u in ups],
            [u.last_seq for u in ups],
            [u.battery_pct for u in ups],
            [u.rssi_dbm for u in ups],
            [u.last_values for u in ups],
        ),
    )
    if came_online:
        now = max(u.last_seen for u in ups)
        record_status_changes(conn, [(d, True, "message received") for d in came_online], now)
    return came_online


def set_offline(
    conn: psycopg.Connection[Any], device_ids: Sequence[str], at: datetime, reason: str
) -> list[str]:
    """Mark devices offline; returns those that were online."""
    changed = [
        r[0]
        for r in conn.execute(
            "UPDATE device_state SET online = false, online_changed_at = %s "
            "WHERE device_id = ANY(%s) AND online RETURNING device_id",
            (at, list(device_ids)),
        )
    ]
    record_status_changes(conn, [(d, False, reason) for d in changed], at)
    return changed


def stale_online_devices(conn: psycopg.Connection[Any], seen_before: datetime) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT device_id FROM device_state WHERE online AND last_seen < %s", (seen_before,)
        )
    ]


def record_status_changes(
    conn: psycopg.Connection[Any], changes: Sequence[tuple[str, bool, str]], at: datetime
) -> None:
    if changes:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO device_status_history (time, device_id, online, reason) VALUES (%s, %s, %s, %s)",
                [(at, d, online, reason) for d, online, reason in changes],
            )


def get_device(conn: psycopg.Connection[Any], device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT d.id, d.kind, d.community_id, d.building, d.grid, d.plan_x, d.plan_y, d.latitude,
                   d.longitude, d.installed_on, d.metadata, s.last_seen, s.online, s.battery_pct,
                   s.rssi_dbm, s.last_values
            FROM devices d LEFT JOIN device_state s ON s.device_id = d.id WHERE d.id = %s
            """,
            (device_id,),
        ).fetchone()


def last_seen(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    return {
        r[0]: r[1]
        for r in conn.execute("SELECT device_id, last_seen FROM device_state WHERE last_seen IS NOT NULL")
    }
