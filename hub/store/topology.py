"""Device topology: a device may hang under a parent (a gateway, a lamp feeder cabinet)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.store.sql import OPEN_CASE, UNTOUCHED_CASE

MAX_DEPTH = 16


def lock_devices(conn: psycopg.Connection[Any], device_ids: Iterable[str]) -> None:
    """Transaction-scoped advisory locks, one per device, taken in id order so that two transactions
    locking overlapping sets cannot deadlock. A child's alert and its parent's outage lock the parent,
    so whichever commits second sees the first (READ COMMITTED reads committed rows per statement)."""
    for device_id in sorted(set(device_ids)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('topology:' || %s, 0))", (device_id,))


def ancestors(conn: psycopg.Connection[Any], device_id: str) -> list[dict[str, Any]]:
    """The device's parent, grandparent …, nearest first (a cycle, which the API refuses, stops it)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            WITH RECURSIVE up(id, depth, path) AS (
                SELECT parent_id, 1, ARRAY[id] FROM devices WHERE id = %(id)s AND parent_id IS NOT NULL
                UNION ALL
                SELECT d.parent_id, up.depth + 1, up.path || d.id
                FROM up JOIN devices d ON d.id = up.id
                WHERE d.parent_id IS NOT NULL AND up.depth < %(max)s AND NOT d.parent_id = ANY(up.path)
            )
            SELECT d.id, d.kind, d.community_id, d.building, d.grid, up.depth,
                   coalesce(s.online, true) AS online, s.online_changed_at
            FROM up JOIN devices d ON d.id = up.id LEFT JOIN device_state s ON s.device_id = d.id
            ORDER BY up.depth
            """,
            {"id": device_id, "max": MAX_DEPTH},
        ).fetchall()


def children(conn: psycopg.Connection[Any], device_id: str) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute("SELECT id FROM devices WHERE parent_id = %s ORDER BY id", (device_id,))
    ]


def parent_of(conn: psycopg.Connection[Any], device_id: str) -> tuple[bool, str | None]:
    """(whether the device exists, its parent)."""
    row = conn.execute("SELECT parent_id FROM devices WHERE id = %s", (device_id,)).fetchone()
    return (False, None) if row is None else (True, row[0])


def device_community(conn: psycopg.Connection[Any], device_id: str) -> str | None:
    row = conn.execute("SELECT community_id FROM devices WHERE id = %s", (device_id,)).fetchone()
    return None if row is None else str(row[0])


def set_parent(conn: psycopg.Connection[Any], device_id: str, parent_id: str | None) -> None:
    conn.execute("UPDATE devices SET parent_id = %s WHERE id = %s", (parent_id, device_id))


def down_alert_case(
    conn: psycopg.Connection[Any], device_id: str, categories: list[str]
) -> tuple[int, str, int | None, datetime] | None:
    """The device's open alert of one of `categories` (a device-level alert, subject = device id):
    (alert id, rule id, its open case or None, when the hub recorded it)."""
    row = conn.execute(
        f"""
        SELECT a.id, a.rule_id, a.recorded_at,
               (SELECT c.id FROM case_alerts ca JOIN cases c ON c.id = ca.case_id
                WHERE ca.alert_id = a.id AND c.{OPEN_CASE}
                ORDER BY c.id LIMIT 1)
        FROM alerts a
        WHERE a.subject = %s AND a.device_id = a.subject AND a.status = 'open' AND a.category = ANY(%s)
        ORDER BY a.opened_at, a.id
        LIMIT 1
        """,  # noqa: S608 - the interpolated text is a constant
        (device_id, categories),
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1]), None if row[3] is None else int(row[3]), row[2]


def mark_suppressed(conn: psycopg.Connection[Any], alert_id: int, parent_id: str) -> None:
    conn.execute("UPDATE alerts SET suppressed_by = %s WHERE id = %s", (parent_id, alert_id))


def foldable_cases(
    conn: psycopg.Connection[Any], parent_id: str, into: int, *, categories: list[str], since: datetime
) -> list[dict[str, Any]]:
    """Cases that the parent's descendants opened on their own for alerts of `categories` since `since`
    (a storm case of theirs alone included), and that nobody has taken up yet (dispatched, unassigned,
    unacknowledged, not suspended, no request waiting), locked: (id, status, device_id). A case somebody
    is changing right now is left alone."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            WITH RECURSIVE down(id, depth) AS (
                SELECT id, 1 FROM devices WHERE parent_id = %(parent)s
                UNION ALL
                SELECT d.id, down.depth + 1 FROM devices d JOIN down ON d.parent_id = down.id
                WHERE down.depth < %(max)s
            )
            SELECT c.id, c.status, c.device_id FROM cases c
            WHERE (c.device_id IN (SELECT id FROM down) AND c.subject = c.device_id
                   OR c.subject LIKE 'storm:%%' AND c.device_id IS NULL AND NOT EXISTS (
                       SELECT 1 FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id
                       WHERE ca.case_id = c.id AND a.device_id NOT IN (SELECT id FROM down)))
              AND c.source = 'alert'
              AND c.id <> %(into)s AND c.category = ANY(%(categories)s)
              AND {UNTOUCHED_CASE} AND c.created_at >= %(since)s
            ORDER BY c.id
            FOR UPDATE OF c SKIP LOCKED
            """,  # noqa: S608 - the interpolated text is a constant
            {
                "parent": parent_id,
                "max": MAX_DEPTH,
                "into": into,
                "categories": categories,
                "since": since,
            },
        ).fetchall()


def move_suppressed_alerts(
    conn: psycopg.Connection[Any], case_id: int, into: int, parent_id: str
) -> list[int]:
    """The case's alerts, marked suppressed by the parent, are linked to the parent's case `into`."""
    alerts = [
        int(r[0])
        for r in conn.execute(
            "UPDATE alerts SET suppressed_by = %s "
            "WHERE id IN (SELECT alert_id FROM case_alerts WHERE case_id = %s) RETURNING id",
            (parent_id, case_id),
        )
    ]
    conn.execute(
        "INSERT INTO case_alerts (case_id, alert_id) SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
        (into, alerts),
    )
    return alerts
