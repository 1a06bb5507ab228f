"""Suspension and extension requests, and suspensions, of cases. Called inside the caller's transaction
after the case's row lock is taken."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


def pending_requests(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, kind, reason, extend_by, requested_by, requested_at FROM case_requests "
            "WHERE case_id = %s AND decision IS NULL ORDER BY id",
            (case_id,),
        ).fetchall()


def insert_request(
    conn: psycopg.Connection[Any],
    case_id: int,
    kind: str,
    reason: str,
    extend_by: str | None,
    by: str,
    by_id: int | None,
    at: datetime,
) -> int:
    row = conn.execute(
        "INSERT INTO case_requests (case_id, kind, reason, extend_by, requested_by, requested_by_id, requested_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (case_id, kind, reason, extend_by, by, by_id, at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def decide_request(
    conn: psycopg.Connection[Any], request_id: int, decision: str, by: str, at: datetime, note: str | None
) -> None:
    conn.execute(
        "UPDATE case_requests SET decision = %s, decided_by = %s, decided_at = %s, decision_note = %s "
        "WHERE id = %s AND decision IS NULL",
        (decision, by, at, note, request_id),
    )


def start_suspension(
    conn: psycopg.Connection[Any],
    case_id: int,
    request_id: int | None,
    reason: str,
    approved_by: str,
    at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO case_suspensions (case_id, request_id, reason, approved_by, started_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (case_id, request_id, reason, approved_by, at),
    )
    conn.execute("UPDATE cases SET suspended_at = %s, updated_at = %s WHERE id = %s", (at, at, case_id))


def end_suspension(conn: psycopg.Connection[Any], case_id: int, by: str, at: datetime) -> datetime | None:
    """End the suspension in force; returns when it began (None if there was none)."""
    row = conn.execute(
        "UPDATE case_suspensions SET ended_at = GREATEST(%s, started_at), ended_by = %s "
        "WHERE case_id = %s AND ended_at IS NULL RETURNING started_at",
        (at, by, case_id),
    ).fetchone()
    conn.execute("UPDATE cases SET suspended_at = NULL, updated_at = %s WHERE id = %s", (at, case_id))
    return None if row is None else row[0]


def set_deadlines(
    conn: psycopg.Connection[Any],
    case_id: int,
    *,
    ack_due_at: datetime | None,
    resolve_due_at: datetime | None,
    resolve_clock: str | None = None,
    reset_resolve_escalation: bool = False,
) -> None:
    conn.execute(
        """
        UPDATE cases SET ack_due_at = %(ack)s, resolve_due_at = %(resolve)s,
            resolve_clock = COALESCE(%(clock)s, resolve_clock),
            resolve_escalated_at = CASE WHEN %(reset)s THEN NULL ELSE resolve_escalated_at END
        WHERE id = %(id)s
        """,
        {
            "ack": ack_due_at,
            "resolve": resolve_due_at,
            "clock": resolve_clock,
            "reset": reset_resolve_escalation,
            "id": case_id,
        },
    )


def requests_of(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, kind, reason, extend_by, requested_by, requested_at, decision, decided_by, decided_at, "
            "decision_note FROM case_requests WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()


def suspensions_of(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, reason, approved_by, started_at, ended_at, ended_by FROM case_suspensions "
            "WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()


def touch(conn: psycopg.Connection[Any], case_id: int, at: datetime) -> None:
    """The case changed without a move (a hold, a decision): its `updated_at` says so."""
    conn.execute("UPDATE cases SET updated_at = %s WHERE id = %s", (at, case_id))
