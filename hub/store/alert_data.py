"""Whether the device behind an open alert is still sending data (`alerts.data_state`).

An alert about one device (subject = device id) is `live` while readings arrive and `no_data` once the
device fell silent (no reading for longer than the gap, its Last Will, or an absence rule). A frozen
alert stays open: only readings that satisfy the clear condition clear it.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

# Rows are locked in id order, so hub workers freezing and thawing the same alerts never deadlock.
# A reading refreshes `last_reading_at` at most this often per alert, so a device streaming readings
# with an alert open does not rewrite the alert row on every batch.
TOUCH_EVERY = timedelta(seconds=10)


@dataclass(frozen=True)
class Changed:
    alert_id: int
    rule_id: str
    subject: str
    since: datetime


def readings_arrived(
    conn: psycopg.Connection[Any], device_ids: Collection[str], at: datetime
) -> list[Changed]:
    """Note readings from `device_ids` at hub time `at`; returns the alerts that were `no_data`."""
    if not device_ids:
        return []
    rows = conn.execute(
        """
        UPDATE alerts a SET last_reading_at = %(at)s, data_state = 'live',
            data_state_since = CASE WHEN o.data_state = 'no_data' THEN %(at)s ELSE a.data_state_since END
        FROM (SELECT id, data_state FROM alerts
              WHERE status = 'open' AND device_id = ANY(%(ids)b::text[]) AND subject = device_id
                AND (data_state = 'no_data' OR last_reading_at < %(stale)s)
              ORDER BY id
              FOR UPDATE) o
        WHERE a.id = o.id
        RETURNING a.id, a.rule_id, a.subject, o.data_state
        """,
        {"at": at, "ids": list(device_ids), "stale": at - TOUCH_EVERY},
    ).fetchall()
    return [Changed(int(r[0]), r[1], r[2], at) for r in rows if r[3] == "no_data"]


def set_no_data(
    conn: psycopg.Connection[Any],
    at: datetime,
    *,
    device_ids: Collection[str] | None = None,
    silent_since: datetime | None = None,
    except_rule: str | None = None,
) -> list[Changed]:
    """Freeze the live open alerts of `device_ids`, or of every device with no reading since
    `silent_since`. Returns the alerts that changed, with the time of their last reading."""
    assert device_ids is not None or silent_since is not None, "name the devices or the silence"
    rows = conn.execute(
        """
        UPDATE alerts a SET data_state = 'no_data', data_state_since = %(at)s
        FROM (SELECT id FROM alerts
              WHERE status = 'open' AND data_state = 'live' AND device_id IS NOT NULL AND subject = device_id
                AND (%(ids)s::text[] IS NULL OR device_id = ANY(%(ids)s::text[]))
                AND (%(silent)s::timestamptz IS NULL OR last_reading_at < %(silent)s::timestamptz)
                AND (%(except)s::text IS NULL OR rule_id <> %(except)s::text)
              ORDER BY id
              FOR UPDATE) o
        WHERE a.id = o.id AND a.data_state = 'live'
        RETURNING a.id, a.rule_id, a.subject, a.last_reading_at
        """,
        {
            "at": at,
            "ids": None if device_ids is None else list(device_ids),
            "silent": silent_since,
            "except": except_rule,
        },
    ).fetchall()
    return [Changed(int(r[0]), r[1], r[2], r[3]) for r in rows]


def open_cases_of_alert(conn: psycopg.Connection[Any], alert_id: int) -> list[int]:
    """Cases of the alert that are still being worked on or verified (not closed or cancelled)."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT c.id FROM case_alerts ca JOIN cases c ON c.id = ca.case_id "
            "WHERE ca.alert_id = %s AND c.status NOT IN ('closed', 'cancelled') ORDER BY c.id",
            (alert_id,),
        )
    ]
