"""Turning alert transitions into cases, inside the caller's transaction."""

from typing import Any

import psycopg

from hub.cases.lifecycle import CaseStatus
from hub.engine.evaluator import AlertCleared, AlertOpened
from hub.store import alerts as alert_store
from hub.store import cases as case_store

SYSTEM = "system"


def on_alert_opened(conn: psycopg.Connection[Any], a: AlertOpened) -> int | None:
    """Record the alert and open (or join) its case; returns the case id, None if already open."""
    alert_id = alert_store.open_alert(conn, a)
    if alert_id is None:
        return None
    team = a.rule.dispatch.team
    case_id, created = case_store.insert_open_case(
        conn,
        title=a.rule.title,
        category=a.rule.category,
        severity=a.rule.severity,
        status=CaseStatus.DISPATCHED,
        source="alert",
        subject=a.subject,
        community_id=a.device.community,
        building=a.device.building,
        grid=a.device.grid,
        device_id=a.device.id,
        team=team,
        at=a.opened_at,
    )
    case_store.link_alert(conn, case_id, alert_id)
    if created:
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="opened",
            at=a.opened_at,
            to_status=CaseStatus.NEW,
            note=f"alert {a.rule.id} on {a.subject}",
        )
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="dispatched",
            at=a.opened_at,
            from_status=CaseStatus.NEW,
            to_status=CaseStatus.DISPATCHED,
            note=f"team {team}",
        )
    else:
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_joined",
            at=a.opened_at,
            note=f"alert {a.rule.id} on {a.subject}",
        )
    return case_id


def on_alert_cleared(conn: psycopg.Connection[Any], c: AlertCleared) -> None:
    alert_id = alert_store.clear_alert(conn, c.rule.id, c.subject, c.cleared_at, c.reason)
    if alert_id is None:
        return
    for case_id in case_store.cases_of_alert(conn, alert_id):
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_cleared",
            at=c.cleared_at,
            note=f"alert {c.rule.id} on {c.subject} cleared: {c.reason}",
        )
