"""Storm and outage cases: counting a place's alerts and cases, taking members in, and titling.

Every function runs in the caller's transaction; `lock` serialises the alerts of one storm subject, so
of two alerts of the same place written side by side the second counts the first.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.domain.storms import Area
from hub.store.sql import OPEN_CASE, UNTOUCHED_CASE

_IN_AREA = (
    "{t}community_id = %(community)s AND (%(grid)s::text IS NULL OR {t}grid = %(grid)s) "
    "AND (%(building)s::text IS NULL OR {t}building = %(building)s)"
)
_OPEN_CASE_OF = f"SELECT id FROM cases WHERE subject = %s AND {OPEN_CASE} ORDER BY id DESC LIMIT 1"  # noqa: S608 - the interpolated text is a constant
_DEVICES_IN = f"SELECT count(*) FROM devices WHERE {_IN_AREA.format(t='')} AND decommissioned_at IS NULL"  # noqa: S608 - the interpolated text is a constant
_SILENT = f"""
SELECT id FROM alerts
WHERE rule_id = %(rule)s AND status = 'open' AND subject = device_id AND silence_id IS NULL
  AND recorded_at >= %(since)s AND {_IN_AREA.format(t="")}
ORDER BY id
"""  # noqa: S608 - the interpolated text is a constant
_RECENT_CASES = f"""
SELECT c.id, a.id, a.status = 'open' FROM cases c
JOIN case_alerts ca ON ca.case_id = c.id JOIN alerts a ON a.id = ca.alert_id
WHERE a.rule_id = %(rule)s AND c.subject = a.subject AND a.subject = a.device_id
  AND c.source = 'alert' AND c.created_at >= %(since)s AND {_IN_AREA.format(t="c.")}
"""  # noqa: S608 - the interpolated text is a constant
_STORM_CASES_OF_ALERT = f"""
SELECT c.id FROM case_alerts ca JOIN cases c ON c.id = ca.case_id
WHERE ca.alert_id = %s AND (c.subject LIKE 'storm:%%' OR c.subject LIKE 'outage:%%') AND c.source = 'alert'
  AND c.{OPEN_CASE}
"""  # noqa: S608 - the interpolated text is a constant
_FOLDABLE_OF_ALERTS = f"""
SELECT c.id, c.status, c.device_id FROM cases c
WHERE c.id IN (SELECT case_id FROM case_alerts WHERE alert_id = ANY(%(alerts)s))
  AND c.id <> %(into)s AND {UNTOUCHED_CASE}
ORDER BY c.id
FOR UPDATE OF c SKIP LOCKED
"""  # noqa: S608 - the interpolated text is a constant
_OPEN_STORM_CASES = f"""
SELECT id, subject, team, community_id, grid, building, updated_at FROM cases
WHERE subject LIKE %s AND source = 'alert' AND {OPEN_CASE} ORDER BY id
"""  # noqa: S608 - the interpolated text is a constant


def _area(area: Area) -> dict[str, Any]:
    return {"community": area.community, "grid": area.grid, "building": area.building}


def new_per_community(conn: psycopg.Connection[Any], since: datetime) -> list[dict[str, Any]]:
    """New alerts and cases per community since `since` (the hub's clock): (community, alerts, cases)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT community_id AS community, sum(alerts)::int AS alerts, sum(cases)::int AS cases FROM (
                SELECT community_id, count(*) AS alerts, 0 AS cases FROM alerts
                WHERE recorded_at >= %(since)s GROUP BY community_id
                UNION ALL
                SELECT community_id, 0, count(*) FROM cases WHERE created_at >= %(since)s GROUP BY community_id
            ) n GROUP BY community_id ORDER BY community_id
            """,
            {"since": since},
        ).fetchall()


def lock(conn: psycopg.Connection[Any], subject: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('storm:' || %s, 0))", (subject,))


def open_case(conn: psycopg.Connection[Any], subject: str) -> int | None:
    row = conn.execute(_OPEN_CASE_OF, (subject,)).fetchone()
    return None if row is None else int(row[0])


def devices_in(conn: psycopg.Connection[Any], area: Area) -> int:
    """Registered devices in service in the area."""
    row = conn.execute(_DEVICES_IN, _area(area)).fetchone()
    return int(row[0]) if row else 0


def silent_devices(conn: psycopg.Connection[Any], rule_id: str, area: Area, since: datetime) -> list[int]:
    """Open, unsilenced device alerts of the absence rule in the area, recorded since `since`."""
    return [
        int(r[0])
        for r in conn.execute(
            _SILENT,
            {"rule": rule_id, "since": since, **_area(area)},
        )
    ]


def recent_cases(
    conn: psycopg.Connection[Any], rule_id: str, area: Area, since: datetime
) -> tuple[int, list[int]]:
    """Cases a device's alert of the rule opened in the area since `since` (however they ended): how
    many, and their alerts that are still open."""
    rows = conn.execute(
        _RECENT_CASES,
        {"rule": rule_id, "since": since, **_area(area)},
    ).fetchall()
    return len({r[0] for r in rows}), sorted({int(r[1]) for r in rows if r[2]})


def take_in(conn: psycopg.Connection[Any], alert_ids: Collection[int], into: int) -> list[dict[str, Any]]:
    """Link the alerts to the case `into`; returns, locked, the other cases of these alerts that nobody
    has taken up yet (dispatched, unassigned, unacknowledged, not suspended, no request waiting), which
    the caller folds: (id, status, device_id). A case somebody is changing right now is left alone."""
    ids = list(alert_ids)
    conn.execute(
        "INSERT INTO case_alerts (case_id, alert_id) SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
        (into, ids),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _FOLDABLE_OF_ALERTS,
            {"alerts": ids, "into": into},
        ).fetchall()


def members(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any]:
    """The case's device alerts: how many, how many still open, and the kinds of their devices."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """
            SELECT count(*) AS alerts, count(*) FILTER (WHERE a.status = 'open') AS open,
                   coalesce(array_agg(DISTINCT d.kind), '{}') AS kinds
            FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id JOIN devices d ON d.id = a.device_id
            WHERE ca.case_id = %s AND a.subject = a.device_id
            """,
            (case_id,),
        ).fetchone()
    assert row is not None
    return row


def unlink(conn: psycopg.Connection[Any], case_id: int, alert_id: int) -> None:
    conn.execute("DELETE FROM case_alerts WHERE case_id = %s AND alert_id = %s", (case_id, alert_id))


def storm_cases_of_alert(conn: psycopg.Connection[Any], alert_id: int) -> list[int]:
    """The open storm and outage cases the alert belongs to."""
    return [
        int(r[0])
        for r in conn.execute(
            _STORM_CASES_OF_ALERT,
            (alert_id,),
        )
    ]


def touch(conn: psycopg.Connection[Any], case_id: int, at: datetime) -> None:
    conn.execute("UPDATE cases SET updated_at = %s WHERE id = %s", (at, case_id))


def retitle(conn: psycopg.Connection[Any], case_id: int, title: str, title_zh: str, at: datetime) -> None:
    conn.execute(
        "UPDATE cases SET title = %s, title_zh = %s, updated_at = %s WHERE id = %s",
        (title, title_zh, at, case_id),
    )


def open_storm_cases(conn: psycopg.Connection[Any], kind: str) -> list[dict[str, Any]]:
    """The open storm or outage cases (`kind` is the subject's first word)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _OPEN_STORM_CASES,
            (f"{kind}:%",),
        ).fetchall()


def open_member_alerts(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    """The case's device alerts still open, with what a case of their own needs."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT a.id, a.rule_id, a.subject, a.device_id, a.community_id, a.building, a.grid,
                   a.severity, a.category, a.title, a.title_zh
            FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id
            WHERE ca.case_id = %s AND a.status = 'open' AND a.subject = a.device_id
            ORDER BY a.id
            """,
            (case_id,),
        ).fetchall()
