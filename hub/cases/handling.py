"""Moving cases: people's actions and claiming the next case of one's teams.

Each function runs in its own transaction (a savepoint inside the caller's) and takes the case's row
lock before it reads the status, so two concurrent actions on one case serialize and the second one is
judged against the status the first one left.
"""

from datetime import datetime
from typing import Any

import psycopg

from hub.cases.actions import Action, ActionRequest, plan
from hub.cases.lifecycle import CaseStatus
from hub.store import cases as case_store
from hub.store.users import User


class CaseNotFound(LookupError):
    pass


class NoTeam(LookupError):
    pass


def act(conn: psycopg.Connection[Any], case_id: int, by: User, request: ActionRequest, now: datetime) -> None:
    """Raises ActionForbidden, ActionIncomplete or TransitionRefused without changing anything."""
    with conn.transaction():
        locked = case_store.lock_case(conn, case_id)
        if locked is None:
            raise CaseNotFound(f"no case {case_id}")
        current, team = CaseStatus(locked[0]), locked[1]
        step = plan(request, current, by.role)
        case_store.apply_step(conn, case_id, step, by.id, now)
        note, detail = step.note, None
        if request.action is Action.ASSIGN:
            detail = {"team": step.team, "previous_team": team}
            note = f"team {team} → {step.team}" + (f": {step.note}" if step.note else "")
        case_store.add_event(
            conn,
            case_id,
            actor=by.username,
            action=step.event,
            at=now,
            from_status=current,
            to_status=step.target,
            note=note,
            detail=detail,
        )


def claim_next(
    conn: psycopg.Connection[Any], by: User, communities: list[str] | None, now: datetime
) -> int | None:
    """Hand `by` the most urgent unclaimed case of their teams, acknowledged in their name; None if the
    queue is empty. Raises NoTeam when `by` belongs to no team."""
    with conn.transaction():
        teams = case_store.teams_of(conn, by.id)
        if not teams:
            raise NoTeam(f"{by.username} belongs to no team")
        claimed = case_store.claim_next(conn, teams, communities)
        if claimed is None:
            return None
        case_id, team = claimed
        step = plan(ActionRequest(Action.ACKNOWLEDGE), CaseStatus.DISPATCHED, by.role)
        case_store.apply_step(conn, case_id, step, by.id, now)
        case_store.add_event(
            conn,
            case_id,
            actor=by.username,
            action="claimed",
            at=now,
            from_status=CaseStatus.DISPATCHED,
            to_status=step.target,
            note=f"from the queue of team {team}",
        )
        return case_id
