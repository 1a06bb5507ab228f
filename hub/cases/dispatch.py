"""Where an opened alert goes: nowhere while silenced, into its group's case when correlated, into its
parent's case when a device it hangs under is down (hub/cases/topology.py), else to a case of its own
(hub/cases/service.py). An absence rule firing first freezes the device's other alerts (no data)."""

from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases import config, data_gaps, service, topology
from hub.engine.evaluator import AlertOpened
from hub.settings import get_settings
from hub.store import alerts as alert_store
from hub.store import case_groups, silences


def alert_opened(conn: psycopg.Connection[Any], a: AlertOpened) -> int | None:
    """Returns the case the alert landed in, or None (silenced, or already open). A silence is an
    operator's 'not now', so it is matched against the hub's clock, not the device's."""
    data_gaps.absence_fired(conn, a)
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
    cfg = config.current(get_settings().routing_file)
    parent_case = topology.suppress_into_parent(conn, a, cfg)
    if parent_case is not None:
        return parent_case
    case_id = service.on_alert_opened(conn, a, cfg)
    if case_id is not None:
        for rule_id, subject in a.absorbs:
            member = case_groups.open_alert_id(conn, rule_id, subject)
            if member is not None:
                case_groups.absorb(conn, case_id, member, a.opened_at)
    return case_id
