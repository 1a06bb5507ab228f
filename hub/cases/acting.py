"""People acting on cases: status actions, holds, claiming the next case of one's teams, evidence.

Each function runs in its own transaction (a savepoint inside the caller's) and takes the case's row
lock before it reads the status, so two concurrent actions on one case serialize and the second one is
judged against the status the first one left.

Status actions go through `actions.plan` (and, for `close`, verified closure); the others — on-site
confirmation, suspensions, extensions — through `holds`. A suspended case takes no status action but
`cancel` until it is resumed.
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import holds, merging, verification
from hub.cases.actions import Action, ActionForbidden, ActionIncomplete, ActionRequest, plan
from hub.cases.actions import CaseNotFound as CaseNotFound
from hub.cases.config import DispatchConfig
from hub.cases.opening import calendar_of
from hub.domain.cases import CaseStatus, Move, Step, TransitionRefused
from hub.domain.errors import NotFound
from hub.domain.roles import HANDLERS
from hub.domain.users import User
from hub.store import case_status
from hub.store import cases as case_store


class NoTeam(NotFound):
    pass


class CaseSuspended(TransitionRefused):
    pass


def act(
    conn: psycopg.Connection[Any],
    case_id: int,
    by: User,
    request: ActionRequest,
    now: datetime,
    cfg: DispatchConfig,
) -> None:
    """Raises ActionForbidden, ActionIncomplete or TransitionRefused (ClosureRefused, CaseSuspended)
    without changing anything."""
    with conn.transaction():
        case = case_store.lock_case_row(conn, case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        _check_organisation(case, by)
        if not isinstance(request.action, Action):
            holds.apply_hold(conn, case, by, request, now, cfg, calendar_of(conn, cfg, case["community_id"]))
            return
        current, team = CaseStatus(case["status"]), case["team"]
        step = plan(request, current, by.role, for_organisation=by.organisation is not None)
        suspended = case["suspended_at"]
        if suspended is not None and request.action is not Action.CANCEL:
            raise CaseSuspended(
                f"case {case_id} is suspended since {suspended.isoformat()}; resume it first (action resume)"
            )
        if request.action is Action.CLOSE:
            verification.require_closable(conn, case_id, cfg.verification_for(case["category"]), now)
        detail: dict[str, object] | None = None
        if request.action is Action.ASSIGN:
            detail = {"team": step.team, "previous_team": team, "note": step.note}
            step = replace(step, note=f"team {team} → {step.team}" + (f": {step.note}" if step.note else ""))
        elif request.action is Action.REOPEN:
            detail = {"team": team, "rework_count": case["rework_count"] + 1}
        elif request.action is Action.RESOLVE:
            detail = {"team": team}
        elif request.action is Action.HAND_BACK:
            step = replace(step, team=cfg.default_team)
            detail = {"team": cfg.default_team, "previous_team": team, "organisation": case["organisation"]}
        case_status.move(
            conn, case_id, step, current=current, actor=by.username, at=now, actor_id=by.id, detail=detail
        )
        if request.action is Action.RESOLVE:
            merging.notify_reporters(conn, case_id, now)
        elif request.action is Action.CANCEL:
            holds.end_on_cancel(conn, case_id, by.username, now)


def _check_organisation(case: dict[str, Any], by: User) -> None:
    """An account bound to an organisation finds only its organisation's cases; the others read as
    absent, as cases outside one's communities do."""
    if by.organisation is not None and case["organisation"] != by.organisation:
        raise CaseNotFound(f"no case {case['id']} assigned to {by.organisation}")


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
        case_status.move(
            conn,
            case_id,
            Step(Move.CLAIM, CaseStatus.ACKNOWLEDGED, note=f"from the queue of team {team}", take_case=True),
            current=CaseStatus.DISPATCHED,
            actor=by.username,
            at=now,
            actor_id=by.id,
            detail={"team": team},
        )
        return case_id


MAX_EVIDENCE_NOTE = 2000


def _lock_for_evidence(conn: psycopg.Connection[Any], case_id: int, by: User) -> None:
    """Inside the caller's transaction: only handlers (and an organisation's accounts, on its own cases)
    add evidence, and only to a case still open."""
    if by.role not in HANDLERS and by.organisation is None:
        raise ActionForbidden("evidence comes from the people handling the case (admin, operator, manager)")
    case = case_store.lock_case_row(conn, case_id)
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    _check_organisation(case, by)
    if case["status"] in (CaseStatus.CLOSED, CaseStatus.CANCELLED):
        raise TransitionRefused(f"a case that is {case['status']} takes no more evidence")


def attach_evidence(
    conn: psycopg.Connection[Any],
    case_id: int,
    by: User,
    content_type: str,
    data: bytes,
    now: datetime,
    note: str | None = None,
) -> int:
    """A handler's photo of the finished work, with an optional note; returns the attachment's id."""
    with conn.transaction():
        _lock_for_evidence(conn, case_id, by)
        attachment_id = case_store.insert_attachment(
            conn, case_id, content_type, data, by.id, purpose="evidence", at=now
        )
        text = note.strip() if note else None
        detail = {
            "kind": "photo",
            "attachment_id": attachment_id,
            "content_type": content_type,
            "size": len(data),
            "with_note": bool(text),
        }
        _evidence_added(conn, case_id, by, now, text or f"photo {attachment_id} of the work", detail)
        return attachment_id


def attach_evidence_note(
    conn: psycopg.Connection[Any], case_id: int, by: User, note: str, now: datetime
) -> str:
    """Evidence that is a note alone (what was done, no photo): an `evidence_added` event without an
    attachment, which verified closure counts like a photo. Returns the stripped note."""
    text = note.strip()
    if not text:
        raise ActionIncomplete("the evidence note is empty: say what was done, or attach a photo")
    if len(text) > MAX_EVIDENCE_NOTE:
        raise ActionIncomplete(f"the evidence note is longer than {MAX_EVIDENCE_NOTE} characters")
    with conn.transaction():
        _lock_for_evidence(conn, case_id, by)
        _evidence_added(conn, case_id, by, now, text, {"kind": "note"})
    return text


def _evidence_added(
    conn: psycopg.Connection[Any], case_id: int, by: User, now: datetime, note: str, detail: dict[str, Any]
) -> None:
    """The event verified closure counts as evidence, whether a photo came with it or not."""
    case_store.add_event(
        conn, case_id, actor=by.username, action="evidence_added", at=now, note=note, detail=detail
    )
