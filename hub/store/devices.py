"""The device registry and live device state."""

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hub.domain.alerts import SEVERITIES
from hub.domain.devices import DeviceKind, DeviceRef, DeviceState
from hub.store.sql import OF_ORGANISATION, OPEN_STATUS_LIST


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


class StateUpdate(NamedTuple):
    """A named tuple: a state flush builds one per device heard from, thousands a second."""

    device_id: str
    last_seen: datetime
    last_seq: int | None
    battery_pct: float | None
    rssi_dbm: int | None
    last_values: str | None
    adapter: str | None = None
    """the adapter the latest reading came through; None for a native message"""


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


def device_refs(conn: psycopg.Connection[Any], ids: Collection[str] | None = None) -> dict[str, DeviceRef]:
    """Every device, or only those of `ids` that exist."""
    columns = "SELECT id, kind, community_id, building, grid, decommissioned_at IS NOT NULL FROM devices"
    if ids is None:
        rows = conn.execute(columns).fetchall()
    else:
        rows = conn.execute(columns + " WHERE id = ANY(%b::text[])", (list(ids),)).fetchall()
    return {r[0]: DeviceRef(r[0], DeviceKind(r[1]), r[2], r[3], r[4], r[5]) for r in rows}


def ids_by_metadata(conn: psycopg.Connection[Any], key: str, values: Collection[str]) -> dict[str, str]:
    """Device ids by the value of an identifier in their metadata (`imei`, `vendor_id`)."""
    if key not in ("imei", "vendor_id"):
        raise ValueError(f"not a device identifier: {key}")
    rows = conn.execute(
        "SELECT metadata ->> %s, id FROM devices WHERE metadata ? %s AND metadata ->> %s = ANY(%s::text[])",
        (key, key, key, list(values)),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def registry_version(conn: psycopg.Connection[Any]) -> int:
    """Moves on every change to the devices table (a trigger): the ingest cache's cue to reload."""
    row = conn.execute("SELECT version FROM registry_version").fetchone()
    return int(row[0]) if row else 0


def broker_credentials(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, str, dict[str, str]]]:
    """(device id, community, kind, password hash, its `imei` and `vendor_id` if set) of every device in
    service that has credentials."""
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in conn.execute(
            "SELECT id, community_id, kind, mqtt_password_hash, jsonb_strip_nulls(jsonb_build_object("
            "'imei', metadata ->> 'imei', 'vendor_id', metadata ->> 'vendor_id')) FROM devices "
            "WHERE mqtt_password_hash IS NOT NULL AND decommissioned_at IS NULL ORDER BY id"
        )
    ]


def broker_credential(
    conn: psycopg.Connection[Any], device_id: str
) -> tuple[str, str, str, dict[str, str]] | None:
    """(community, kind, password hash, `imei`/`vendor_id`) of one device in service with credentials."""
    row = conn.execute(
        "SELECT community_id, kind, mqtt_password_hash, jsonb_strip_nulls(jsonb_build_object("
        "'imei', metadata ->> 'imei', 'vendor_id', metadata ->> 'vendor_id')) FROM devices "
        "WHERE id = %s AND mqtt_password_hash IS NOT NULL AND decommissioned_at IS NULL",
        (device_id,),
    ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row else None


def set_credentials(conn: psycopg.Connection[Any], device_id: str, password_hash: str, at: datetime) -> bool:
    """A new password for a device in service; False when there is no such device in service."""
    return (
        conn.execute(
            "UPDATE devices SET mqtt_password_hash = %s, credentials_rotated_at = %s "
            "WHERE id = %s AND decommissioned_at IS NULL",
            (password_hash, at, device_id),
        ).rowcount
        == 1
    )


def set_decommissioned(
    conn: psycopg.Connection[Any], device_id: str, at: datetime | None, password_hash: str | None
) -> bool:
    """Take a device out of service (`at`, its password gone) or back in (None, with a new password);
    False when it is not in the other state."""
    return (
        conn.execute(
            "UPDATE devices SET decommissioned_at = %(at)s, mqtt_password_hash = %(hash)s, "
            "credentials_rotated_at = CASE WHEN %(hash)s::text IS NULL THEN credentials_rotated_at ELSE now() END "
            "WHERE id = %(id)s AND (decommissioned_at IS NULL) = (%(at)s::timestamptz IS NOT NULL)",
            {"at": at, "hash": password_hash, "id": device_id},
        ).rowcount
        == 1
    )


def set_place(conn: psycopg.Connection[Any], device_id: str, place: dict[str, Any]) -> None:
    """Write the given columns of the device's place (community, building, grid, plan_x, plan_y)."""
    assert place.keys() <= {"community_id", "building", "grid", "plan_x", "plan_y"}
    conn.execute(
        sql.SQL("UPDATE devices SET {} WHERE id = %(id)s").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in place
            )
        ),
        {**place, "id": device_id},
    )


def record_seen(conn: psycopg.Connection[Any], updates: Iterable[StateUpdate]) -> list[str]:
    """Upsert live state for devices heard from; returns the ids that came (back) online."""
    ups = list(updates)
    if not ups:
        return []
    device_ids, last_seen, last_seq, battery, rssi, last_values, adapters = map(list, zip(*ups, strict=True))
    came_online = [
        r[0]
        for r in conn.execute(
            "SELECT d FROM unnest(%b::text[]) AS d WHERE NOT EXISTS "
            "(SELECT 1 FROM device_state s WHERE s.device_id = d AND s.online)",
            (device_ids,),
        )
    ]
    conn.execute(
        """
        INSERT INTO device_state AS s (device_id, last_seen, last_seq, online, online_changed_at,
                                       battery_pct, rssi_dbm, last_values, adapter)
        SELECT u.device_id, u.last_seen, u.last_seq, true, u.last_seen, u.battery_pct, u.rssi_dbm,
               COALESCE(u.last_values::jsonb, '{}'::jsonb), u.adapter
        FROM unnest(%b::text[], %b::timestamptz[], %b::bigint[], %b::real[], %b::smallint[], %b::text[],
                    %b::text[])
             AS u(device_id, last_seen, last_seq, battery_pct, rssi_dbm, last_values, adapter)
        ON CONFLICT (device_id) DO UPDATE SET
            last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
            last_seq = COALESCE(EXCLUDED.last_seq, s.last_seq),
            online_changed_at = CASE WHEN s.online THEN s.online_changed_at ELSE EXCLUDED.last_seen END,
            online = true,
            battery_pct = COALESCE(EXCLUDED.battery_pct, s.battery_pct),
            rssi_dbm = COALESCE(EXCLUDED.rssi_dbm, s.rssi_dbm),
            last_values = CASE WHEN EXCLUDED.last_values = '{}'::jsonb THEN s.last_values
                               ELSE EXCLUDED.last_values END,
            adapter = EXCLUDED.adapter
        """,
        (device_ids, last_seen, last_seq, battery, rssi, last_values, adapters),
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
    """One statement for all of them: a hub starting up hears thousands of devices come online in one
    state write, which one INSERT per device made a half-second stall."""
    if changes:
        devices, online, reasons = map(list, zip(*changes, strict=True))
        conn.execute(
            "INSERT INTO device_status_history (time, device_id, online, reason) "
            "SELECT %s, u.device_id, u.online, u.reason "
            "FROM unnest(%s::text[], %s::boolean[], %s::text[]) AS u(device_id, online, reason)",
            (at, devices, online, reasons),
        )


def get_device(conn: psycopg.Connection[Any], device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT d.id, d.kind, d.community_id, d.building, d.grid, d.plan_x, d.plan_y, d.latitude,
                   d.longitude, d.installed_on, d.metadata, d.parent_id, d.decommissioned_at,
                   d.credentials_rotated_at, d.created_at, s.last_seen, s.online, s.battery_pct,
                   s.rssi_dbm, s.last_values, s.adapter
            FROM devices d LEFT JOIN device_state s ON s.device_id = d.id WHERE d.id = %s
            """,
            (device_id,),
        ).fetchone()


def last_seen(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    return {
        r[0]: r[1]
        for r in conn.execute("SELECT device_id, last_seen FROM device_state WHERE last_seen IS NOT NULL")
    }


# --- Device lists, site plans and a device's alerts and cases (dashboard) -------------------------------

LOW_BATTERY_PCT = 20.0
DEVICE_STATES: tuple[DeviceState, ...] = get_args(DeviceState)

# One state per device, in this order of precedence: an open alert or an open case about it (a device whose
# case is open stays in alarm until the case is done, even when its alert has cleared), then offline (never
# heard counts as offline), then a battery below LOW_BATTERY_PCT, else ok. The counts are one scan each of
# the scope's open alerts and open cases, not a lookup per device.
_DEVICES_WITH_STATE = sql.SQL("""
    WITH open_alerts AS (
        SELECT device_id, count(*) AS n FROM alerts
        WHERE status = 'open' AND device_id IS NOT NULL
          AND (%(communities)s::text[] IS NULL OR community_id = ANY(%(communities)s::text[]))
        GROUP BY device_id
    ), open_device_cases AS (
        SELECT device_id, count(*) AS n FROM cases
        WHERE status = ANY(%(open)s) AND device_id IS NOT NULL
          AND (%(communities)s::text[] IS NULL OR community_id = ANY(%(communities)s::text[]))
        GROUP BY device_id
    ), listed AS (
        SELECT d.id, d.kind, d.community_id, d.building, d.grid, d.plan_x, d.plan_y, d.latitude, d.longitude,
               d.parent_id, d.decommissioned_at, coalesce(s.online, false) AS online, s.last_seen,
               s.battery_pct, coalesce(a.n, 0)::int AS open_alerts, coalesce(oc.n, 0)::int AS open_cases,
               CASE WHEN a.n > 0 OR oc.n > 0 THEN 'alerting'
                    WHEN NOT coalesce(s.online, false) THEN 'offline'
                    WHEN s.battery_pct < 20 THEN 'low_battery'  -- LOW_BATTERY_PCT
                    ELSE 'ok' END AS state
        FROM devices d
        LEFT JOIN device_state s ON s.device_id = d.id
        LEFT JOIN open_alerts a ON a.device_id = d.id
        LEFT JOIN open_device_cases oc ON oc.device_id = d.id
        WHERE (%(communities)s::text[] IS NULL OR d.community_id = ANY(%(communities)s::text[]))
    )
""")


@dataclass(frozen=True)
class DeviceFilters:
    """Each one given narrows the list. `communities` is the caller's scope (None for every community);
    `search` matches part of the id, building or grid; `silent_min`: not heard for more than that many
    minutes (or never); `decommissioned`: only those (True) or only those in service (False)."""

    communities: list[str] | None = None
    community: str | None = None
    building: str | None = None
    grid: str | None = None
    kind: str | None = None
    state: str | None = None
    search: str | None = None
    silent_min: int | None = None
    battery_below: float | None = None
    decommissioned: bool | None = None


_DEVICE_FILTER = sql.SQL("""
    WHERE (%(community)s::text IS NULL OR community_id = %(community)s::text)
      AND (%(building)s::text IS NULL OR building = %(building)s::text)
      AND (%(grid)s::text IS NULL OR grid = %(grid)s::text)
      AND (%(kind)s::text IS NULL OR kind = %(kind)s::text)
      AND (%(state)s::text IS NULL OR state = %(state)s::text)
      AND (%(search)s::text IS NULL OR strpos(lower(id || ' ' || coalesce(building, '') || ' '
                                                 || coalesce(grid, '')), lower(%(search)s::text)) > 0)
      AND (%(silent_min)s::int IS NULL OR last_seen IS NULL
           OR last_seen < now() - make_interval(mins => %(silent_min)s::int))
      AND (%(battery_below)s::float8 IS NULL OR battery_pct < %(battery_below)s::float8)
      AND (%(decommissioned)s::boolean IS NULL
           OR (decommissioned_at IS NOT NULL) = %(decommissioned)s::boolean)
""")


def list_devices(
    conn: psycopg.Connection[Any], f: DeviceFilters, *, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Devices with their live state, and how many match in all."""
    params = {k: getattr(f, k) for k in DeviceFilters.__dataclass_fields__} | {"open": OPEN_STATUS_LIST}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _DEVICES_WITH_STATE
            + sql.SQL("SELECT *, count(*) OVER () AS total FROM listed")
            + _DEVICE_FILTER
            + sql.SQL("ORDER BY community_id, building NULLS LAST, id LIMIT %(limit)s OFFSET %(offset)s"),
            {**params, "limit": limit, "offset": offset},
        ).fetchall()
        if rows:
            total = int(rows[0]["total"])
        else:  # an offset past the end has no window count
            found = cur.execute(
                _DEVICES_WITH_STATE + sql.SQL("SELECT count(*) AS n FROM listed") + _DEVICE_FILTER, params
            ).fetchone()
            total = int(found["n"]) if found else 0
    for r in rows:
        del r["total"]
    return rows, total


def site_summaries(
    conn: psycopg.Connection[Any],
    communities: list[str] | None,
    resident_id: int | None = None,
    organisation: str | None = None,
) -> list[dict[str, Any]]:
    """Per community in scope: its name, counts of its devices in service by state and kind, and its open
    cases (for a resident, only the alert-raised ones and their own reports; for an account bound to an
    `organisation`, only the organisation's)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _DEVICES_WITH_STATE
            + sql.SQL("""
            , in_service AS (SELECT * FROM listed WHERE decommissioned_at IS NULL)
            , by_state AS (
                SELECT community_id, jsonb_object_agg(state, n) AS states
                FROM (SELECT community_id, state, count(*) AS n FROM in_service GROUP BY 1, 2) s GROUP BY 1
            ), by_kind AS (
                SELECT community_id, jsonb_object_agg(kind, n) AS kinds, sum(n)::int AS devices
                FROM (SELECT community_id, kind, count(*) AS n FROM in_service GROUP BY 1, 2) k GROUP BY 1
            ), open_cases AS (
                SELECT c.community_id, count(*)::int AS n FROM cases c
                WHERE c.status = ANY(%(open)s)
                  AND (%(resident)s::bigint IS NULL OR c.source = 'alert' OR c.reporter_id = %(resident)s::bigint)
                  AND """)
            + sql.SQL(OF_ORGANISATION)
            + sql.SQL("""
                GROUP BY 1
            )
            SELECT m.id, m.name, coalesce(k.devices, 0) AS devices,
                   coalesce(s.states, '{}'::jsonb) AS states, coalesce(k.kinds, '{}'::jsonb) AS kinds,
                   coalesce(o.n, 0) AS open_cases
            FROM communities m
            LEFT JOIN by_state s ON s.community_id = m.id
            LEFT JOIN by_kind k ON k.community_id = m.id
            LEFT JOIN open_cases o ON o.community_id = m.id
            WHERE (%(communities)s::text[] IS NULL OR m.id = ANY(%(communities)s::text[]))
            ORDER BY m.id
            """),
            {
                "communities": communities,
                "resident": resident_id,
                "organisation": organisation,
                "open": OPEN_STATUS_LIST,
            },
        ).fetchall()


def site_plan(
    conn: psycopg.Connection[Any],
    community: str,
    resident_id: int | None = None,
    organisation: str | None = None,
) -> dict[str, Any] | None:
    """A community's plan: its devices in service with plan position, latitude/longitude, state and the
    open case to go to (the most severe, then the oldest; for a resident only alert-raised ones, for an
    account bound to an `organisation` only the organisation's), a box
    per building and per grid around their devices' positions, and its plan image's type and time. None
    when there is no such community."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            "SELECT id, name, plan_image_type, plan_image_at FROM communities WHERE id = %s", (community,)
        ).fetchone()
        if found is None:
            return None
        devices = cur.execute(
            _DEVICES_WITH_STATE
            + sql.SQL("""
            , first_case AS (
                SELECT DISTINCT ON (c.device_id) c.device_id, c.id FROM cases c
                WHERE c.community_id = %(community)s AND c.device_id IS NOT NULL AND c.status = ANY(%(open)s)
                  AND (%(resident)s::bigint IS NULL OR c.source = 'alert' OR c.reporter_id = %(resident)s::bigint)
                  AND """)
            + sql.SQL(OF_ORGANISATION)
            + sql.SQL("""
                ORDER BY c.device_id, array_position(%(ranks)s, c.severity) DESC, c.created_at, c.id
            )
            SELECT l.id, l.kind, l.building, l.grid, l.plan_x, l.plan_y, l.latitude, l.longitude, l.state,
                   l.battery_pct, l.open_alerts, l.open_cases, f.id AS open_case_id, l.last_seen
            FROM listed l LEFT JOIN first_case f ON f.device_id = l.id
            WHERE l.decommissioned_at IS NULL
            ORDER BY l.id
            """),
            {
                "communities": [community],
                "community": community,
                "open": OPEN_STATUS_LIST,
                "resident": resident_id,
                "organisation": organisation,
                "ranks": list(SEVERITIES),
            },
        ).fetchall()
    placed = [d for d in devices if d["plan_x"] is not None and d["plan_y"] is not None]

    def boxes(key: str, *group: str) -> list[dict[str, Any]]:
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for d in placed:
            if d[key] is None:
                continue
            ident = tuple(d[g] for g in group)
            box = out.setdefault(
                ident,
                {
                    **dict(zip(group, ident, strict=True)),
                    "x0": d["plan_x"],
                    "y0": d["plan_y"],
                    "x1": d["plan_x"],
                    "y1": d["plan_y"],
                    "devices": 0,
                },
            )
            box["x0"], box["y0"] = min(box["x0"], d["plan_x"]), min(box["y0"], d["plan_y"])
            box["x1"], box["y1"] = max(box["x1"], d["plan_x"]), max(box["y1"], d["plan_y"])
            box["devices"] += 1
        return [out[k] for k in sorted(out, key=lambda k: tuple(str(p) for p in k))]

    image = (
        {"content_type": found["plan_image_type"], "updated_at": found["plan_image_at"]}
        if found["plan_image_type"]
        else None
    )
    return {
        "id": found["id"],
        "name": found["name"],
        "image": image,
        "grids": boxes("grid", "grid"),
        "buildings": boxes("building", "grid", "building"),
        "devices": devices,
        "unplaced": len(devices) - len(placed),
    }


def device_alerts(conn: psycopg.Connection[Any], device_id: str, limit: int) -> list[dict[str, Any]]:
    """A device's alerts, newest first, each with the cases it is linked to and its data state (an open
    alert of a silent device is `no_data`, with `data_state_since`)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT a.id, a.rule_id, a.title, a.severity, a.category, a.status, a.started_at, a.opened_at,
                   a.cleared_at, a.clear_reason, a.silence_id, a.data_state, a.data_state_since,
                   coalesce(array_agg(ca.case_id ORDER BY ca.case_id)
                            FILTER (WHERE ca.case_id IS NOT NULL), '{}') AS case_ids
            FROM alerts a LEFT JOIN case_alerts ca ON ca.alert_id = a.id
            WHERE a.device_id = %s
            GROUP BY a.id
            ORDER BY a.opened_at DESC, a.id DESC
            LIMIT %s
            """,
            (device_id, limit),
        ).fetchall()


def device_cases(
    conn: psycopg.Connection[Any],
    device_id: str,
    limit: int,
    resident_id: int | None = None,
    organisation: str | None = None,
) -> list[dict[str, Any]]:
    """The cases about a device, newest first; for a resident only alert-raised ones and their own, for
    an account bound to an `organisation` only those of its teams or calling on it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            SELECT c.id, c.title, c.category, c.severity, c.status, c.source, c.team, c.created_at, c.updated_at
            FROM cases c
            WHERE c.device_id = %(device)s
              AND (%(resident)s::bigint IS NULL OR c.source = 'alert' OR c.reporter_id = %(resident)s::bigint)
              AND {OF_ORGANISATION}
            ORDER BY c.created_at DESC, c.id DESC
            LIMIT %(limit)s
            """,  # noqa: S608 - the interpolated text is a constant
            {"device": device_id, "resident": resident_id, "organisation": organisation, "limit": limit},
        ).fetchall()
