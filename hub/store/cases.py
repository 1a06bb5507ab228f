"""Cases, the alerts linked to them, and their append-only event history."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

_SEVERITY_RANK = "ARRAY['info', 'minor', 'major', 'critical']"


def insert_open_case(
    conn: psycopg.Connection[Any],
    *,
    title: str,
    category: str,
    severity: str,
    status: str,
    source: str,
    subject: str,
    community_id: str,
    building: str | None,
    grid: str | None,
    device_id: str | None,
    team: str | None,
    at: datetime,
) -> tuple[int, bool]:
    """Open a case, or return the open one for the same subject and category: (case id, created)."""
    row = conn.execute(
        """
        INSERT INTO cases (title, category, severity, status, source, subject, community_id, building, grid,
                           device_id, team, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (subject, category) WHERE status NOT IN ('resolved', 'closed', 'cancelled') DO NOTHING
        RETURNING id
        """,
        (
            title,
            category,
            severity,
            status,
            source,
            subject,
            community_id,
            building,
            grid,
            device_id,
            team,
            at,
            at,
        ),
    ).fetchone()
    if row is not None:
        return int(row[0]), True
    existing = conn.execute(
        f"""
        UPDATE cases SET updated_at = %s,
            severity = CASE WHEN array_position({_SEVERITY_RANK}, %s) > array_position({_SEVERITY_RANK}, severity)
                            THEN %s ELSE severity END
        WHERE subject = %s AND category = %s AND status NOT IN ('resolved', 'closed', 'cancelled')
        RETURNING id
        """,  # noqa: S608 - the interpolated text is a constant
        (at, severity, severity, subject, category),
    ).fetchone()
    assert existing is not None, "the conflicting open case must exist inside this transaction"
    return int(existing[0]), False


def link_alert(conn: psycopg.Connection[Any], case_id: int, alert_id: int) -> None:
    conn.execute(
        "INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (case_id, alert_id),
    )


def add_event(
    conn: psycopg.Connection[Any],
    case_id: int,
    *,
    actor: str,
    action: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (case_id, at, actor, action, from_status, to_status, note),
    )


def cases_of_alert(conn: psycopg.Connection[Any], alert_id: int) -> list[int]:
    return [
        int(r[0]) for r in conn.execute("SELECT case_id FROM case_alerts WHERE alert_id = %s", (alert_id,))
    ]


def list_cases(
    conn: psycopg.Connection[Any],
    *,
    communities: list[str] | None,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Scope (`communities`, None for all) is applied in the query, never after it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT id, title, category, severity, status, source, subject, community_id, building, grid,
                   device_id, team, created_at, updated_at
            FROM cases
            WHERE (%(communities)s::text[] IS NULL OR community_id = ANY(%(communities)s::text[]))
              AND (%(status)s::text IS NULL OR status = %(status)s::text)
            ORDER BY created_at DESC, id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"communities": communities, "status": status, "limit": limit, "offset": offset},
        ).fetchall()


def get_case(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        case = cur.execute("SELECT * FROM cases WHERE id = %s", (case_id,)).fetchone()
        if case is None:
            return None
        case["history"] = cur.execute(
            "SELECT at, actor, action, from_status, to_status, note FROM case_events WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()
        case["alerts"] = cur.execute(
            "SELECT a.id, a.rule_id, a.rule_version, a.status, a.opened_at, a.cleared_at, a.explanation, "
            "a.clear_reason FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id WHERE ca.case_id = %s "
            "ORDER BY a.id",
            (case_id,),
        ).fetchall()
        return case
