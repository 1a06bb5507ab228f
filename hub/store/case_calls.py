"""Street-office calls on organisations, per case."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

CALL_COLUMNS = (
    "id, case_id, organisation, request, called_by, called_at, respond_by, state, answered_by, answered_at, "
    "answer_note, escalated_at"
)


def insert(
    conn: psycopg.Connection[Any],
    case_id: int,
    organisation: str,
    request: str,
    called_by: str,
    at: datetime,
    respond_by: datetime,
) -> int | None:
    """None when the organisation has an open call on the case already."""
    row = conn.execute(
        "INSERT INTO case_calls (case_id, organisation, request, called_by, called_at, respond_by) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (case_id, organisation) WHERE state IN ('open', 'accepted') "
        "DO NOTHING RETURNING id",
        (case_id, organisation, request, called_by, at, respond_by),
    ).fetchone()
    return None if row is None else int(row[0])


def calls_of(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {CALL_COLUMNS} FROM case_calls WHERE case_id = %s ORDER BY id",  # noqa: S608 - constant
            (case_id,),
        ).fetchall()


def lock_call(conn: psycopg.Connection[Any], case_id: int, call_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {CALL_COLUMNS} FROM case_calls WHERE case_id = %s AND id = %s FOR UPDATE",  # noqa: S608
            (case_id, call_id),
        ).fetchone()


def answer(
    conn: psycopg.Connection[Any], call_id: int, state: str, by: str, at: datetime, note: str | None
) -> None:
    conn.execute(
        "UPDATE case_calls SET state = %s, answered_by = %s, answered_at = %s, answer_note = %s WHERE id = %s",
        (state, by, at, note, call_id),
    )


def open_organisations(conn: psycopg.Connection[Any], case_id: int, states: Sequence[str]) -> list[str]:
    rows = conn.execute(
        "SELECT organisation FROM case_calls WHERE case_id = %s AND state = ANY(%s) ORDER BY organisation",
        (case_id, list(states)),
    ).fetchall()
    return [str(r[0]) for r in rows]


def claim_unanswered(conn: psycopg.Connection[Any], now: datetime, limit: int) -> list[dict[str, Any]]:
    """Calls still unanswered past their deadline and not escalated yet, marked escalated at `now`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            UPDATE case_calls SET escalated_at = %(now)s
            WHERE id IN (SELECT id FROM case_calls
                         WHERE state = 'open' AND escalated_at IS NULL AND respond_by <= %(now)s
                         ORDER BY respond_by LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
            RETURNING {CALL_COLUMNS}
            """,  # noqa: S608 - the interpolated text is a constant
            {"now": now, "limit": limit},
        ).fetchall()
