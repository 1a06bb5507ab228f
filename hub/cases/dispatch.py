"""Where an opened alert goes: nowhere while silenced, into its group's case when correlated, else to
a case of its own (hub/cases/service.py)."""

from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases import service
from hub.engine.evaluator import AlertOpened
from hub.store import alerts as alert_store
from hub.store import case_groups, silences


def alert_opened(conn: psycopg.Connection[Any], a: AlertOpened) -> int | None:
    """Returns the case the alert landed in, or None (silenced, or already open). A silence is an
    operator's 'not now', so it is matched against the hub's clock, not the device's."""
    silence = silences.matching(
        conn,
        rule_id=a.rule.id,
        device_id=a.device.id,
        community_id=a.device.community,
        building=a.device.building,
        at=datetime.now(UTC),
    )
    if silence is not None:
        alert_store.open_alert(conn, a, silence_id=silence)
        return None
    if a.absorbed_into is not None:
        group_alert = case_groups.open_alert_id(conn, *a.absorbed_into)
        group_case = case_groups.open_case_of_alert(conn, group_alert) if group_alert is not None else None
        if group_case is not None:
            alert_id = alert_store.open_alert(conn, a)
            if alert_id is not None:
                case_groups.absorb(conn, group_case, alert_id, a.opened_at)
            return group_case
    case_id = service.on_alert_opened(conn, a)
    if case_id is not None:
        for rule_id, subject in a.absorbs:
            member = case_groups.open_alert_id(conn, rule_id, subject)
            if member is not None:
                case_groups.absorb(conn, case_id, member, a.opened_at)
    return case_id
