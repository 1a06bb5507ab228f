"""Cases, the alerts linked to them, their append-only event history, team membership, photos and ratings.

Functions that change a case expect to run inside the caller's transaction, after `lock_case` (or a
claim) has taken the row lock, so concurrent actions on one case serialize.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from hub.domain.alerts import SEVERITIES
from hub.domain.cases import Escalation
from hub.store.sql import OF_ORGANISATION, OPEN_CASE, text_array

_SEVERITY_RANK = text_array(SEVERITIES)
_OPEN = OPEN_CASE
_CASE_COLUMNS = """
    c.id, c.title, c.title_zh, c.category, c.severity, c.status, c.source, c.subject, c.community_id, c.building, c.grid,
    c.device_id, c.team, c.created_at, c.updated_at, c.description, c.reporter_id, c.assignee_id,
    assignee.username AS assignee, c.ack_due_at, c.resolve_due_at, c.acknowledged_at, c.resolved_at,
    c.cancel_reason, (ARRAY['team', 'supervisor', 'street_office'])[c.escalation_level + 1] AS escalation_level,
    c.rework_count, c.suspended_at, c.ack_clock, c.resolve_clock,
    (SELECT t.organisation FROM teams t WHERE t.id = c.team) AS organisation,
    EXISTS (SELECT 1 FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id
            WHERE ca.case_id = c.id AND a.status = 'open') AS alarm_active
"""
_CASE_FROM = "cases c LEFT JOIN users assignee ON assignee.id = c.assignee_id"


def insert_open_case(
    conn: psycopg.Connection[Any],
    *,
    title: str,
    category: str,
    severity: str,
    source: str,
    title_zh: str | None = None,
    subject: str,
    community_id: str,
    building: str | None,
    grid: str | None,
    device_id: str | None,
    team: str | None,
    at: datetime,
    ack_due_at: datetime | None = None,
    resolve_due_at: datetime | None = None,
    description: str | None = None,
    reporter_id: int | None = None,
    ack_clock: str = "calendar",
    resolve_clock: str = "calendar",
) -> tuple[int, bool]:
    """Insert a case, born `new`, or join the open one for the same subject and category: (case id,
    created). A new case is then moved along by `case_status.move` (opened, dispatched).

    A joining alert raises the severity and pulls the deadlines in when it is more urgent, never out
    (a deadline pulled in takes the joining alert's clock along).
    """
    row = conn.execute(
        f"""
        INSERT INTO cases (title, title_zh, category, severity, source, subject, community_id, building, grid,
                           device_id, team, created_at, updated_at, ack_due_at, resolve_due_at, description,
                           reporter_id, ack_clock, resolve_clock)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (subject, category) WHERE {_OPEN} DO NOTHING
        RETURNING id
        """,  # noqa: S608 - the interpolated text is a constant
        (
            title,
            title_zh,
            category,
            severity,
            source,
            subject,
            community_id,
            building,
            grid,
            device_id,
            team,
            at,
            at,
            ack_due_at,
            resolve_due_at,
            description,
            reporter_id,
            ack_clock,
            resolve_clock,
        ),
    ).fetchone()
    if row is not None:
        return int(row[0]), True
    existing = conn.execute(
        f"""
        UPDATE cases SET updated_at = %(at)s,
            severity = CASE WHEN array_position({_SEVERITY_RANK}, %(severity)s::text)
                                 > array_position({_SEVERITY_RANK}, severity)
                            THEN %(severity)s::text ELSE severity END,
            ack_clock = CASE WHEN %(ack_due_at)s::timestamptz < ack_due_at THEN %(ack_clock)s ELSE ack_clock END,
            resolve_clock = CASE WHEN %(resolve_due_at)s::timestamptz < resolve_due_at
                                 THEN %(resolve_clock)s ELSE resolve_clock END,
            ack_due_at = LEAST(ack_due_at, %(ack_due_at)s::timestamptz),
            resolve_due_at = LEAST(resolve_due_at, %(resolve_due_at)s::timestamptz)
        WHERE subject = %(subject)s AND category = %(category)s AND {_OPEN}
        RETURNING id
        """,  # noqa: S608 - the interpolated text is a constant
        {
            "at": at,
            "severity": severity,
            "ack_due_at": ack_due_at,
            "resolve_due_at": resolve_due_at,
            "subject": subject,
            "category": category,
            "ack_clock": ack_clock,
            "resolve_clock": resolve_clock,
        },
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
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An event that leaves the status alone; status changes are recorded by `case_status.move`."""
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, note, detail) VALUES (%s, %s, %s, %s, %s, %s)",
        (case_id, at, actor, action, note, None if detail is None else json.dumps(detail)),
    )


def last_move(conn: psycopg.Connection[Any], case_id: int) -> str | None:
    """The `action` of the case's latest status-changing event."""
    row = conn.execute(
        "SELECT action FROM case_events WHERE case_id = %s AND to_status IS NOT NULL ORDER BY id DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    return None if row is None else str(row[0])


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
    resident_id: int | None = None,
    team: str | None = None,
    organisation: str | None = None,
) -> list[dict[str, Any]]:
    """Scope is applied in the query, never after it: `communities` (None for all), for a resident
    only their own reports, the alert-raised cases of their communities, and the cases their reports
    were merged into, and for an `organisation`'s account only the cases of its teams and those that
    called on it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            SELECT {_CASE_COLUMNS}
            FROM {_CASE_FROM}
            WHERE (%(communities)s::text[] IS NULL OR c.community_id = ANY(%(communities)s::text[]))
              AND (%(resident)s::bigint IS NULL OR c.reporter_id = %(resident)s::bigint OR c.source = 'alert'
                   OR c.id IN (SELECT m.surviving_case_id FROM case_merges m
                               JOIN cases r ON r.id = m.merged_case_id
                               WHERE m.split_at IS NULL AND r.reporter_id = %(resident)s::bigint))
              AND (%(status)s::text IS NULL OR c.status = %(status)s::text)
              AND (%(team)s::text IS NULL OR c.team = %(team)s::text)
              AND {OF_ORGANISATION}
            ORDER BY c.created_at DESC, c.id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,  # noqa: S608 - the interpolated text is a constant
            {
                "communities": communities,
                "resident": resident_id,
                "status": status,
                "team": team,
                "organisation": organisation,
                "limit": limit,
                "offset": offset,
            },
        ).fetchall()


def get_case(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        case = cur.execute(
            f"SELECT {_CASE_COLUMNS} FROM {_CASE_FROM} WHERE c.id = %s",  # noqa: S608 - constant text
            (case_id,),
        ).fetchone()
        if case is None:
            return None
        case["history"] = cur.execute(
            "SELECT at, actor, action, move, from_status, to_status, note, detail FROM case_events "
            "WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()
        case["ended"] = _ended(cur, case_id) if case["status"] == "cancelled" else None
        case["alerts"] = cur.execute(
            "SELECT a.id, a.rule_id, a.rule_version, a.title, a.title_zh, a.subject, a.device_id, a.community_id, "
            "a.building, a.grid, a.severity, a.status, a.started_at, a.opened_at, a.recorded_at, a.cleared_at, "
            "a.explanation, a.clear_reason, a.clear_facts, a.data_state, "
            "CASE a.data_state WHEN 'no_data' THEN 'no data' ELSE 'live' END AS data_state_label, "
            "a.data_state_since, a.last_reading_at, a.suppressed_by "
            "FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id WHERE ca.case_id = %s "
            "ORDER BY a.id",
            (case_id,),
        ).fetchall()
        case["attachments"] = cur.execute(
            "SELECT id, content_type, octet_length(data) AS size, created_at, purpose FROM case_attachments "
            "WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()
        merged_into = cur.execute(
            "SELECT surviving_case_id FROM case_merges WHERE merged_case_id = %s AND split_at IS NULL",
            (case_id,),
        ).fetchone()
        case["merged_into"] = None if merged_into is None else merged_into["surviving_case_id"]
        case["merged_cases"] = cur.execute(
            "SELECT m.merged_case_id AS case_id, m.merged_by, m.merged_at, m.note, r.reporter_id, r.source "
            "FROM case_merges m JOIN cases r ON r.id = m.merged_case_id "
            "WHERE m.surviving_case_id = %s AND m.split_at IS NULL ORDER BY m.id",
            (case_id,),
        ).fetchall()
        case["requests"] = cur.execute(
            "SELECT id, kind, reason, extend_by, requested_by, requested_at, decision, decided_by, decided_at, "
            "decision_note FROM case_requests WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()
        case["suspensions"] = cur.execute(
            "SELECT reason, approved_by, started_at, ended_at, ended_by FROM case_suspensions "
            "WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()
        case["calls"] = cur.execute(
            "SELECT k.id, k.organisation, o.name_en AS organisation_name_en, o.name_zh AS organisation_name_zh, "
            "k.request, k.called_by, k.called_at, k.respond_by, k.state, k.answered_by, k.answered_at, k.answer_note, "
            "k.escalated_at FROM case_calls k JOIN organisations o ON o.id = k.organisation "
            "WHERE k.case_id = %s ORDER BY k.id",
            (case_id,),
        ).fetchall()
        case["ratings"] = cur.execute(
            "SELECT stars, comment, created_at FROM case_ratings WHERE case_id = %s ORDER BY created_at",
            (case_id,),
        ).fetchall()
        return case


def _ended(cur: psycopg.Cursor[dict[str, Any]], case_id: int) -> dict[str, Any] | None:
    """The move that cancelled the case — its last status change — and where a merging move took it."""
    row = cur.execute(
        "SELECT move, at, actor, to_status, COALESCE((detail->>'into')::bigint, "
        "(detail->>'surviving_case_id')::bigint) AS into, detail->>'parent' AS parent, "
        "CASE WHEN move IN ('cancel', 'withdraw') THEN note ELSE detail->>'note' END AS note "
        "FROM case_events WHERE case_id = %s AND to_status IS NOT NULL ORDER BY id DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    return row if row is not None and row.pop("to_status") == "cancelled" else None


def lock_case(conn: psycopg.Connection[Any], case_id: int) -> tuple[str, str | None] | None:
    """(status, team) of the case, holding its row lock until the transaction ends."""
    row = conn.execute("SELECT status, team FROM cases WHERE id = %s FOR UPDATE", (case_id,)).fetchone()
    return None if row is None else (str(row[0]), row[1])


def lock_case_row(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any] | None:
    """The case's row, holding its row lock until the transaction ends."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, status, team, category, severity, source, community_id, building, device_id, reporter_id, "
            "created_at, ack_due_at, resolve_due_at, acknowledged_at, ack_clock, resolve_clock, suspended_at, "
            "rework_count, (SELECT t.organisation FROM teams t WHERE t.id = cases.team) AS organisation "
            "FROM cases WHERE id = %s FOR UPDATE",
            (case_id,),
        ).fetchone()


def claim_next(
    conn: psycopg.Connection[Any], teams: Sequence[str], communities: list[str] | None
) -> tuple[int, str] | None:
    """Lock the most urgent unclaimed case of `teams`: (id, team). SKIP LOCKED lets concurrent claimers
    each take a different case instead of queueing behind the same row."""
    row = conn.execute(
        f"""
        SELECT id, team FROM cases
        WHERE status = 'dispatched' AND assignee_id IS NULL AND suspended_at IS NULL
          AND team = ANY(%(teams)s::text[])
          AND (%(communities)s::text[] IS NULL OR community_id = ANY(%(communities)s::text[]))
        ORDER BY array_position({_SEVERITY_RANK}, severity) DESC NULLS LAST, created_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
        """,  # noqa: S608 - the interpolated text is a constant
        {"teams": list(teams), "communities": communities},
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def teams_of(conn: psycopg.Connection[Any], user_id: int) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute("SELECT team FROM team_members WHERE user_id = %s ORDER BY team", (user_id,))
    ]


def add_member(conn: psycopg.Connection[Any], team: str, username: str) -> bool:
    """False when there is no such user."""
    row = conn.execute(
        "INSERT INTO team_members (team, user_id) SELECT %s, id FROM users WHERE username = %s "
        "ON CONFLICT DO NOTHING RETURNING user_id",
        (team, username),
    ).fetchone()
    return row is not None or _user_exists(conn, username)


def remove_member(conn: psycopg.Connection[Any], team: str, username: str) -> bool:
    row = conn.execute(
        "DELETE FROM team_members WHERE team = %s AND user_id = (SELECT id FROM users WHERE username = %s) "
        "RETURNING user_id",
        (team, username),
    ).fetchone()
    return row is not None


def _user_exists(conn: psycopg.Connection[Any], username: str) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE username = %s", (username,)).fetchone() is not None


def escalation_candidates(conn: psycopg.Connection[Any], now: datetime, limit: int) -> list[dict[str, Any]]:
    """Open cases with a deadline passed and not yet escalated, locked; a case an operator is changing
    right now is skipped and picked up by the next run."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            SELECT c.id, c.status, c.team, c.escalation_level, c.ack_due_at, c.resolve_due_at,
                   c.acknowledged_at, c.ack_escalated_at, c.resolve_escalated_at, c.suspended_at, m.street_office
            FROM cases c JOIN communities m ON m.id = c.community_id
            WHERE c.{_OPEN} AND c.escalation_level < 2 AND c.suspended_at IS NULL
              AND ((c.ack_due_at < %(now)s AND c.acknowledged_at IS NULL AND c.ack_escalated_at IS NULL)
                   OR (c.resolve_due_at < %(now)s AND c.resolve_escalated_at IS NULL))
            ORDER BY LEAST(c.ack_due_at, c.resolve_due_at), c.id
            LIMIT %(limit)s
            FOR UPDATE OF c SKIP LOCKED
            """,  # noqa: S608 - the interpolated text is a constant
            {"now": now, "limit": limit},
        ).fetchall()


def record_escalation(conn: psycopg.Connection[Any], case_id: int, e: Escalation, at: datetime) -> bool:
    """The guard on the deadline's column makes a second escalation for it impossible, even if two
    workers ever got past the job's advisory lock."""
    row = conn.execute(
        f"""
        UPDATE cases SET escalation_level = %(level)s, updated_at = %(at)s,
            ack_escalated_at = CASE WHEN %(deadline)s = 'ack' THEN %(at)s ELSE ack_escalated_at END,
            resolve_escalated_at = CASE WHEN %(deadline)s = 'resolve' THEN %(at)s ELSE resolve_escalated_at END
        WHERE id = %(id)s AND escalation_level < %(level)s
          AND {"ack_escalated_at" if e.deadline == "ack" else "resolve_escalated_at"} IS NULL
        RETURNING id
        """,  # noqa: S608 - the interpolated text is one of two constants
        {"level": int(e.level), "at": at, "deadline": e.deadline, "id": case_id},
    ).fetchone()
    return row is not None


def insert_attachment(
    conn: psycopg.Connection[Any],
    case_id: int,
    content_type: str,
    data: bytes,
    uploaded_by: int,
    *,
    purpose: str = "report",
    at: datetime | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO case_attachments (case_id, content_type, data, uploaded_by, purpose, created_at) "
        "VALUES (%s, %s, %s, %s, %s, COALESCE(%s, now())) RETURNING id",
        (case_id, content_type, data, uploaded_by, purpose, at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def get_attachment(
    conn: psycopg.Connection[Any], case_id: int, attachment_id: int
) -> tuple[str, bytes] | None:
    row = conn.execute(
        "SELECT content_type, data FROM case_attachments WHERE case_id = %s AND id = %s",
        (case_id, attachment_id),
    ).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def insert_rating(
    conn: psycopg.Connection[Any],
    case_id: int,
    resident_id: int,
    stars: int,
    comment: str | None,
    at: datetime,
) -> bool:
    """False when this resident has rated this case before."""
    row = conn.execute(
        "INSERT INTO case_ratings (case_id, resident_id, stars, comment, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING case_id",
        (case_id, resident_id, stars, comment, at),
    ).fetchone()
    return row is not None


def community_exists(conn: psycopg.Connection[Any], community_id: str) -> bool:
    return conn.execute("SELECT 1 FROM communities WHERE id = %s", (community_id,)).fetchone() is not None


def _round_start(cur: psycopg.Cursor[dict[str, Any]], case_id: int) -> dict[str, Any]:
    """The case's status and when its current round began: its last `reopen`, else its opening."""
    row = cur.execute(
        "SELECT c.status, COALESCE((SELECT max(at) FROM case_events WHERE case_id = c.id AND action = 'reopened'), "
        "c.created_at) AS since FROM cases c WHERE c.id = %s",
        (case_id,),
    ).fetchone()
    assert row is not None, f"case {case_id} exists"
    return row


def round_resolution(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any] | None:
    """The latest `resolve` of the current round: {by, at, note}, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        since = _round_start(cur, case_id)["since"]
        return cur.execute(
            "SELECT actor AS by, at, note FROM case_events WHERE case_id = %s AND action = 'resolved' "
            "AND at >= %s ORDER BY id DESC LIMIT 1",
            (case_id, since),
        ).fetchone()


def closure_facts(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any]:
    """What verified closure looks at, for the current round (since the last `reopen`, else since the
    case opened): the case's status and alerts, the resolution, evidence (photos, and notes given
    without a photo), the on-site confirmations."""
    with conn.cursor(row_factory=dict_row) as cur:
        start = _round_start(cur, case_id)
        since = start["since"]
        alerts = cur.execute(
            "SELECT a.id, a.rule_id, a.subject, a.device_id, a.status, a.cleared_at, a.data_state, "
            "a.data_state_since FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id "
            "WHERE ca.case_id = %s ORDER BY a.id",
            (case_id,),
        ).fetchall()
        photos = cur.execute(
            "SELECT count(*) AS n FROM case_attachments WHERE case_id = %s AND purpose = 'evidence' "
            "AND created_at >= %s",
            (case_id, since),
        ).fetchone()
        notes = cur.execute(
            "SELECT count(*) AS n FROM case_events WHERE case_id = %s AND action = 'evidence_added' "
            "AND detail->>'kind' = 'note' AND at >= %s",
            (case_id, since),
        ).fetchone()
        confirmations = cur.execute(
            "SELECT actor AS by, at FROM case_events WHERE case_id = %s AND action = 'confirmed_on_site' "
            "AND at >= %s ORDER BY id",
            (case_id, since),
        ).fetchall()
    return {
        "status": start["status"],
        "alerts": alerts,
        "resolution": round_resolution(conn, case_id),
        "evidence_photos": 0 if photos is None else int(photos["n"]),
        "evidence_notes": 0 if notes is None else int(notes["n"]),
        "confirmations": confirmations,
    }


ReworkKey = Literal["case", "team", "category"]


def rework_counts(
    conn: psycopg.Connection[Any],
    start: datetime,
    end: datetime,
    *,
    by: ReworkKey = "case",
    communities: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rework in [start, end): each `reopen` (a verifier rejected a resolution) counts once, against
    the team that held the case when it was reopened. One row per case, team or category (`by`):

    - `key`: the case id (by case), team or category;
    - `reworks`: reopen events in the period; `reworked_cases`: distinct cases reopened in it;
    - `resolutions`: resolve events in the period (so reworks / resolutions is a rework rate);
    - by case also `team`, `category`, `community_id` and the case's lifetime `rework_count`.
    """
    key = {
        "case": "e.case_id::text",
        "team": "coalesce(e.detail->>'team', c.team, '-')",
        "category": "c.category",
    }[by]
    extra = (
        ", min(c.team) AS team, min(c.category) AS category, min(c.community_id) AS community_id, "
        "max(c.rework_count) AS rework_count"
        if by == "case"
        else ""
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"""
            SELECT {key} AS key,
                   count(*) FILTER (WHERE e.action = 'reopened') AS reworks,
                   count(DISTINCT e.case_id) FILTER (WHERE e.action = 'reopened') AS reworked_cases,
                   count(*) FILTER (WHERE e.action = 'resolved') AS resolutions{extra}
            FROM case_events e JOIN cases c ON c.id = e.case_id
            WHERE e.action IN ('reopened', 'resolved') AND e.at >= %(start)s AND e.at < %(end)s
              AND (%(communities)s::text[] IS NULL OR c.community_id = ANY(%(communities)s::text[]))
            GROUP BY 1
            ORDER BY 2 DESC, 1
            """,  # noqa: S608 - the interpolated text is one of three constants
            {"start": start, "end": end, "communities": communities},
        ).fetchall()
    if by == "case":
        for r in rows:
            r["key"] = int(r["key"])
    return rows
