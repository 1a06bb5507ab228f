"""The one writer of a case's status and of the event row that records each change.

Every status change is a named move of the lifecycle table (`hub.domain.cases.MOVES`): it is checked
here against the status the caller read under the row lock, written together with what the move
changes besides the status, and recorded as one `case_events` row with the move's name, the status it
left and the one it reached. No other code writes `cases.status` (a test reads every module's SQL to
keep it so).
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from hub.domain.cases import EVENT, CaseStatus, Move, Step, TransitionRefused, check


class SubjectTaken(TransitionRefused):
    """A case cannot be opened again while another open case has its subject and category."""


def move(
    conn: psycopg.Connection[Any],
    case_id: int,
    step: Step,
    *,
    current: CaseStatus | None,
    actor: str,
    at: datetime,
    actor_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Move the case from `current` (None: a case just inserted, born `new`) along `step`; returns its
    rework count afterwards. The caller holds the row lock; a case whose status is no longer `current`
    is refused rather than overwritten."""
    check(step.move, current, step.target)
    rework_count = 0
    if current is not None:
        rework_count = _update(conn, case_id, step, current, at, actor_id)
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, move, from_status, to_status, note, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            case_id,
            at,
            actor,
            EVENT[step.move],
            step.move.value,
            current,
            step.target,
            step.note,
            None if detail is None else json.dumps(detail),
        ),
    )
    return rework_count


def _update(
    conn: psycopg.Connection[Any],
    case_id: int,
    step: Step,
    current: CaseStatus,
    at: datetime,
    actor_id: int | None,
) -> int:
    params = {
        "status": step.target.value,
        "current": current.value,
        "rework": step.rework,
        "at": at,
        "team": step.team,
        "take": step.take_case,
        "actor": actor_id,
        "resolved": step.mark_resolved,
        "reason": step.cancel_reason,
        "clear_reason": step.clear_cancel_reason,
        "id": case_id,
    }
    sql = """
        UPDATE cases SET
            status = %(status)s,
            rework_count = rework_count + CASE WHEN %(rework)s THEN 1 ELSE 0 END,
            updated_at = %(at)s,
            team = COALESCE(%(team)s, team),
            assignee_id = CASE WHEN %(team)s::text IS NOT NULL THEN NULL
                               WHEN %(take)s THEN COALESCE(assignee_id, %(actor)s)
                               ELSE assignee_id END,
            acknowledged_at = CASE WHEN %(take)s THEN COALESCE(acknowledged_at, %(at)s) ELSE acknowledged_at END,
            resolved_at = CASE WHEN %(resolved)s THEN %(at)s ELSE resolved_at END,
            cancel_reason = CASE WHEN %(clear_reason)s THEN NULL ELSE COALESCE(%(reason)s, cancel_reason) END
        WHERE id = %(id)s AND status = %(current)s
        RETURNING rework_count
        """
    if step.move is Move.SPLIT:
        try:
            with conn.transaction():
                row = conn.execute(sql, params).fetchone()
        except psycopg.errors.UniqueViolation:
            raise SubjectTaken(
                f"case #{case_id} cannot be reopened: another open case has its subject and category"
            ) from None
    else:
        row = conn.execute(sql, params).fetchone()
    if row is None:
        raise TransitionRefused(f"case #{case_id} is no longer {current}: it changed meanwhile")
    return int(row[0])
