"""Missing data is not recovery: a device that falls silent while its alert is open freezes the alert
(`data_state` no_data) instead of clearing it, and the next real reading makes it live again.

Three things freeze an alert: no reading for longer than HUB_NO_DATA_AFTER_S (checked by the ingest
pipeline every second), the device's Last Will or an offline status, and an absence rule firing for the
device. Each change is written to the alert's open cases, so the history (and every notification
receiver) says when the sensor went quiet and when it came back.
"""

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.domain.alerts import AlertOpened
from hub.engine.schema import AbsenceRule
from hub.store import alert_data
from hub.store import cases as case_store

SYSTEM = "system"


def readings_arrived(conn: psycopg.Connection[Any], device_ids: Collection[str], at: datetime) -> int:
    """New readings were stored for `device_ids`: their frozen alerts are live again. Returns how many."""
    back = alert_data.readings_arrived(conn, device_ids, at)
    for c in back:
        _note(conn, c, at, "alert_data_back", f"alert {c.rule_id} on {c.subject}: readings again", {})
    return len(back)


def device_silent(conn: psycopg.Connection[Any], device_ids: Collection[str], at: datetime, why: str) -> int:
    """The devices went offline (Last Will, status message): freeze their open alerts."""
    frozen = alert_data.set_no_data(conn, at, device_ids=device_ids)
    for c in frozen:
        _frozen(conn, c, at, why, {"cause": "offline"})
    return len(frozen)


def silent_longer_than(conn: psycopg.Connection[Any], now: datetime, gap_s: float) -> int:
    """Freeze the open alerts of every device without a reading for more than `gap_s`."""
    frozen = alert_data.set_no_data(conn, now, silent_since=now - timedelta(seconds=gap_s))
    for c in frozen:
        _frozen(conn, c, now, f"no reading for more than {gap_s:g}s", {"cause": "no_reading", "gap_s": gap_s})
    return len(frozen)


def absence_fired(conn: psycopg.Connection[Any], a: AlertOpened, now: datetime) -> int:
    """An absence rule that listens to everything a device sends fired: the device's other open
    alerts have no data behind them any more. (A rule narrowed by `source` or `where` — a missing
    heartbeat while events still arrive — says nothing about the other readings.)"""
    rule = a.rule
    if not isinstance(rule, AbsenceRule) or rule.source != "any" or rule.where is not None:
        return 0
    frozen = alert_data.set_no_data(conn, now, device_ids=[a.device.id], except_rule=rule.id)
    for c in frozen:
        _frozen(conn, c, now, f"absence rule {rule.id} fired", {"cause": "absence", "absence_rule": rule.id})
    return len(frozen)


def _frozen(
    conn: psycopg.Connection[Any], c: alert_data.Changed, at: datetime, why: str, cause: dict[str, Any]
) -> None:
    """`why` in English for the API; `cause` the same as a code and its values."""
    _note(
        conn,
        c,
        at,
        "alert_no_data",
        f"alert {c.rule_id} on {c.subject}: no data ({why}); last reading {c.since.isoformat()}; "
        "the alert stays open until real readings clear it",
        {"last_reading_at": c.since.isoformat(), "why": why, **cause},
    )


def _note(
    conn: psycopg.Connection[Any],
    c: alert_data.Changed,
    at: datetime,
    action: str,
    note: str,
    detail: dict[str, Any],
) -> None:
    for case_id in alert_data.open_cases_of_alert(conn, c.alert_id):
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action=action,
            at=at,
            note=note,
            detail={"alert_id": c.alert_id, "rule_id": c.rule_id, "subject": c.subject, **detail},
        )
