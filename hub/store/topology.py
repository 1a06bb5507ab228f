"""Device topology: a device may hang under a parent (a gateway, a lamp feeder cabinet)."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

MAX_DEPTH = 16


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
                   coalesce(s.online, true) AS online
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
) -> tuple[int, str, int | None] | None:
    """The device's open alert of one of `categories` (a device-level alert, subject = device id):
    (alert id, rule id, its open case or None)."""
    row = conn.execute(
        """
        SELECT a.id, a.rule_id,
               (SELECT c.id FROM case_alerts ca JOIN cases c ON c.id = ca.case_id
                WHERE ca.alert_id = a.id AND c.status NOT IN ('resolved', 'closed', 'cancelled')
                ORDER BY c.id LIMIT 1)
        FROM alerts a
        WHERE a.subject = %s AND a.device_id = a.subject AND a.status = 'open' AND a.category = ANY(%s)
        ORDER BY a.opened_at, a.id
        LIMIT 1
        """,
        (device_id, categories),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), None if row[2] is None else int(row[2]))


def mark_suppressed(conn: psycopg.Connection[Any], alert_id: int, parent_id: str) -> None:
    conn.execute("UPDATE alerts SET suppressed_by = %s WHERE id = %s", (parent_id, alert_id))
