"""Correlated alerts: the open alert of a group's rule and the open case an alert is linked to."""

from typing import Any

import psycopg

from hub.store.sql import OPEN_CASE


def open_alert_id(conn: psycopg.Connection[Any], rule_id: str, subject: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM alerts WHERE rule_id = %s AND subject = %s AND status = 'open'", (rule_id, subject)
    ).fetchone()
    return None if row is None else int(row[0])


def open_case_of_alert(conn: psycopg.Connection[Any], alert_id: int) -> int | None:
    row = conn.execute(
        f"SELECT c.id FROM cases c JOIN case_alerts ca ON ca.case_id = c.id "  # noqa: S608 - constant text
        f"WHERE ca.alert_id = %s AND c.{OPEN_CASE} ORDER BY c.id LIMIT 1",
        (alert_id,),
    ).fetchone()
    return None if row is None else int(row[0])
