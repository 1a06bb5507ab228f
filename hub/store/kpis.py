"""The rows behind the case KPIs (`hub.cases.kpis`): the cohort of cases created in `[start, end)` in the
caller's communities, with their status-changing events, deadline extensions, suspensions and ratings
from before `as_of`, and the alerts linked to them. Every query joins `cases c` and applies the cohort's
condition itself, so scope is applied in each of them: `communities` None means every community."""

from datetime import datetime
from typing import Any

import psycopg

from hub.domain.kpis import AlertLink, CaseRow, Cohort, EventRow, ExtensionRow, RatingRow, SuspensionRow

_IN_COHORT = """c.created_at >= %(start)s AND c.created_at < %(end)s
    AND (%(communities)s::text[] IS NULL OR c.community_id = ANY(%(communities)s::text[]))"""
"""The cohort's condition on `cases c`, written once for the six queries."""

_CASES = f"""
    SELECT c.id, c.community_id, c.category, c.team, c.grid, c.severity, c.source, c.status,
           c.created_at, c.resolve_due_at, c.cancel_reason, c.ack_due_at,
           (SELECT t.organisation FROM teams t WHERE t.id = c.team) AS organisation
    FROM cases c
    WHERE {_IN_COHORT}
    ORDER BY c.id
"""  # noqa: S608 - the interpolated text is a constant
_EVENTS = f"""
    SELECT e.case_id, e.id, e.at, e.to_status, e.note, e.action
    FROM case_events e JOIN cases c ON c.id = e.case_id
    WHERE {_IN_COHORT} AND e.to_status IS NOT NULL AND e.at < %(as_of)s
    ORDER BY e.case_id, e.at, e.id
"""  # noqa: S608 - the interpolated text is a constant
_RATINGS = f"""
    SELECT r.case_id, r.stars, r.created_at
    FROM case_ratings r JOIN cases c ON c.id = r.case_id
    WHERE {_IN_COHORT} AND r.created_at < %(as_of)s
"""  # noqa: S608 - the interpolated text is a constant
_ALERTS = f"""
    SELECT DISTINCT ca.case_id, a.rule_id, a.device_id
    FROM case_alerts ca JOIN cases c ON c.id = ca.case_id JOIN alerts a ON a.id = ca.alert_id
    WHERE {_IN_COHORT}
"""  # noqa: S608 - the interpolated text is a constant
_SUSPENSIONS = f"""
    SELECT s.case_id, s.started_at, s.ended_at
    FROM case_suspensions s JOIN cases c ON c.id = s.case_id
    WHERE {_IN_COHORT} AND s.started_at < %(as_of)s
"""  # noqa: S608 - the interpolated text is a constant
_EXTENSIONS = f"""
    SELECT e.case_id, e.at
    FROM case_events e JOIN cases c ON c.id = e.case_id
    WHERE {_IN_COHORT} AND e.action = 'deadline_extended' AND e.at < %(as_of)s
"""  # noqa: S608 - the interpolated text is a constant


def cohort(
    conn: psycopg.Connection[Any],
    *,
    communities: list[str] | None,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Cohort:
    params = {"start": start, "end": end, "as_of": as_of, "communities": communities}

    def rows(query: str) -> list[Any]:
        return conn.execute(query, params).fetchall()

    return Cohort(
        cases=[CaseRow(*r) for r in rows(_CASES)],
        events=[EventRow(*r) for r in rows(_EVENTS)],
        ratings=[RatingRow(*r) for r in rows(_RATINGS)],
        alerts=[AlertLink(*r) for r in rows(_ALERTS)],
        suspensions=[SuspensionRow(*r) for r in rows(_SUSPENSIONS)],
        extensions=[ExtensionRow(*r) for r in rows(_EXTENSIONS)],
    )


def community_name(conn: psycopg.Connection[Any], community_id: str) -> str | None:
    row = conn.execute("SELECT name FROM communities WHERE id = %s", (community_id,)).fetchone()
    return None if row is None else str(row[0])
