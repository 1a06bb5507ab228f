"""Correlated alerts: one case for a group, the members' own cases folded into it."""

from datetime import datetime
from typing import Any

import psycopg

from hub.store import case_merges

_OPEN = ("new", "dispatched", "acknowledged", "in_progress", "reopened")


def open_alert_id(conn: psycopg.Connection[Any], rule_id: str, subject: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM alerts WHERE rule_id = %s AND subject = %s AND status = 'open'", (rule_id, subject)
    ).fetchone()
    return None if row is None else int(row[0])


def open_case_of_alert(conn: psycopg.Connection[Any], alert_id: int) -> int | None:
    row = conn.execute(
        "SELECT c.id FROM cases c JOIN case_alerts ca ON ca.case_id = c.id "
        "WHERE ca.alert_id = %s AND c.status = ANY(%s) ORDER BY c.id LIMIT 1",
        (alert_id, list(_OPEN)),
    ).fetchone()
    return None if row is None else int(row[0])


def absorb(conn: psycopg.Connection[Any], group_case: int, alert_id: int, at: datetime) -> None:
    """Link the member alert to the group's case; cancel the member's own open case, pointing at it."""
    own = open_case_of_alert(conn, alert_id)
    conn.execute(
        "INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (group_case, alert_id),
    )
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, note) VALUES (%s, %s, 'system', 'alert_joined', %s)",
        (group_case, at, f"correlated alert {alert_id}"),
    )
    if own is None or own == group_case:
        return
    prev = conn.execute("SELECT status FROM cases WHERE id = %s FOR UPDATE", (own,)).fetchone()
    if prev is None or prev[0] not in _OPEN:
        return
    conn.execute("UPDATE cases SET status = 'cancelled', updated_at = %s WHERE id = %s", (at, own))
    # residents' reports merged into the member's case now follow the group's case
    case_merges.repoint(conn, own, group_case)
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note) "
        "VALUES (%s, %s, 'system', 'absorbed', %s, 'cancelled', %s)",
        (own, at, prev[0], f"absorbed into case #{group_case}"),
    )
