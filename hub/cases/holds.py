"""Actions that leave a case's status alone: a supervisor's on-site confirmation, suspensions and
deadline extensions.

The on-site confirmation is a second person's check: whoever resolved the case does not confirm it
(409), unless the category's verification entry in config/routing.yaml says `resolver_may_confirm`.

Suspensions and extensions take two people: a handler asks (`suspend`, `extend`, each with a reason),
an admin or operator other than the asker decides (`approve_…` or `decline_…`). An admin's own
`suspend` or `extend` takes effect at once and is recorded as approved by that admin (`self_approved`).
While a suspension is in force the case keeps its status, its deadlines stop and it never escalates;
`resume` gives each deadline back the time it had left, on its own clock (see `sla.resumed_deadline`).
An approved extension moves `resolve_due_at` by the requested limit (`90m`, `4wh`, `2wd`) from the
current deadline, and a missed extended deadline escalates again.

`plan_hold` is pure (role → input → state, like `actions.plan`); `apply_hold` writes what it planned.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from hub.cases.actions import (
    ActionForbidden,
    ActionIncomplete,
    ActionRequest,
    HoldAction,
    check_organisation_action,
    given,
)
from hub.cases.calendar import Limit, WorkCalendar, parse_limit
from hub.cases.config import DispatchConfig, VerificationRule
from hub.cases.sla import resumed_deadline
from hub.domain.cases import OPEN_STATUSES, CaseStatus, TransitionRefused
from hub.domain.roles import HANDLERS, VERIFIERS
from hub.domain.users import User
from hub.store import case_holds
from hub.store import cases as case_store

Kind = Literal["suspension", "extension"]
CONFIRMABLE = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED})


@dataclass(frozen=True)
class Pending:
    id: int
    kind: Kind
    reason: str
    requested_by: str
    requested_at: datetime
    extend_by: str | None = None


@dataclass(frozen=True)
class HoldFacts:
    case_id: int
    status: CaseStatus
    suspended_at: datetime | None
    pending: Mapping[Kind, Pending]
    resolved_by: str | None = None
    """who resolved the current round, while the case is resolved"""
    resolver_may_confirm: bool = False


class ResolverConfirms(TransitionRefused):
    """409: the person who resolved the case may not confirm their own work on site."""


@dataclass(frozen=True)
class HoldPlan:
    event: str
    ask: Kind | None = None
    decide: Literal["approved", "declined"] | None = None
    suspend: bool = False
    resume: bool = False
    extend: Limit | None = None
    self_approved: bool = False


def plan_hold(
    request: ActionRequest, facts: HoldFacts, role: str, username: str, *, for_organisation: bool = False
) -> HoldPlan:
    """`for_organisation`: the caller acts for the organisation owning the case; it may ask for a
    suspension or an extension, which a verifier then decides on."""
    a = request.action
    if not isinstance(a, HoldAction):
        raise TypeError(f"{a} moves a case along its lifecycle; see hub.cases.actions.plan")
    if for_organisation:
        check_organisation_action(a)
    elif role not in HANDLERS:
        raise ActionForbidden(f"a {role} cannot act on cases; residents may rate a resolved case")
    if a is HoldAction.CONFIRM_ON_SITE:
        _verifier(role, "confirming the work on site is a supervisor's check")
        if facts.status not in CONFIRMABLE:
            raise TransitionRefused(
                f"a case that is {facts.status} cannot be confirmed on site; confirm it once the work is "
                "in progress or resolved"
            )
        if facts.resolved_by == username and not facts.resolver_may_confirm:
            raise ResolverConfirms(
                f"you resolved case {facts.case_id}, so another admin or operator confirms the work on site "
                "(config/routing.yaml, verification: resolver_may_confirm allows the resolver)"
            )
        return HoldPlan("confirmed_on_site")
    if a is HoldAction.SUSPEND:
        if not given(request.reason):
            raise ActionIncomplete("suspend needs a reason")
        _open(facts, "suspended")
        _not_suspended(facts)
        _nothing_pending(facts, "suspension")
        if role == "admin":
            return HoldPlan("suspended", suspend=True, self_approved=True)
        return HoldPlan("suspension_requested", ask="suspension")
    if a is HoldAction.RESUME:
        if facts.suspended_at is None:
            raise TransitionRefused(f"case {facts.case_id} is not suspended")
        return HoldPlan("resumed", resume=True)
    if a is HoldAction.EXTEND:
        if not given(request.reason):
            raise ActionIncomplete("extend needs a reason")
        limit = _limit(request.extend_by)
        _open(facts, "extended")
        _nothing_pending(facts, "extension")
        if role == "admin":
            return HoldPlan("deadline_extended", extend=limit, self_approved=True)
        return HoldPlan("extension_requested", ask="extension")
    kind: Kind = (
        "suspension" if a in (HoldAction.APPROVE_SUSPENSION, HoldAction.DECLINE_SUSPENSION) else "extension"
    )
    _verifier(role, f"deciding on a {kind} request")
    pending = facts.pending.get(kind)
    if pending is None:
        raise TransitionRefused(f"no {kind} request of case {facts.case_id} waits for a decision")
    if a in (HoldAction.DECLINE_SUSPENSION, HoldAction.DECLINE_EXTENSION):
        return HoldPlan(f"{kind}_declined", decide="declined")
    if pending.requested_by == username:
        raise ActionForbidden(
            f"{username} asked for this {kind}; another admin or operator approves it "
            "(an admin's own request takes effect at once)"
        )
    _open(facts, "suspended" if kind == "suspension" else "extended")
    if kind == "suspension":
        _not_suspended(facts)
        return HoldPlan("suspended", decide="approved", suspend=True)
    return HoldPlan("deadline_extended", decide="approved", extend=_limit(pending.extend_by))


def _verifier(role: str, what: str) -> None:
    if role not in VERIFIERS:
        raise ActionForbidden(f"{what}: it needs the role admin or operator")


def _open(facts: HoldFacts, verb: str) -> None:
    if facts.status not in OPEN_STATUSES:
        raise TransitionRefused(f"a case that is {facts.status} cannot be {verb}; only open cases can")


def _not_suspended(facts: HoldFacts) -> None:
    if facts.suspended_at is not None:
        raise TransitionRefused(
            f"case {facts.case_id} is suspended since {facts.suspended_at.isoformat()}; resume it first"
        )


def _nothing_pending(facts: HoldFacts, kind: Kind) -> None:
    pending = facts.pending.get(kind)
    if pending is not None:
        raise TransitionRefused(
            f"a {kind} request by {pending.requested_by} waits for a decision "
            f"(approve_{kind} or decline_{kind})"
        )


def _limit(text: str | None) -> Limit:
    if not given(text):
        raise ActionIncomplete("extend needs extend_by: the extra time, like 90m, 4h, 4wh or 2wd")
    try:
        limit = parse_limit(text)
    except ValueError as exc:
        raise ActionIncomplete(f"extend_by: {exc}") from None
    assert isinstance(limit, Limit)
    if limit.seconds <= 0 and limit.amount <= 0:
        raise ActionIncomplete("extend_by must be more than nothing")
    return limit


def facts_of(conn: psycopg.Connection[Any], case: Mapping[str, Any], rule: VerificationRule) -> HoldFacts:
    pending: dict[Kind, Pending] = {}
    for r in case_holds.pending_requests(conn, case["id"]):
        pending[r["kind"]] = Pending(
            r["id"], r["kind"], r["reason"], r["requested_by"], r["requested_at"], r["extend_by"]
        )
    status = CaseStatus(case["status"])
    resolution = case_store.round_resolution(conn, case["id"]) if status is CaseStatus.RESOLVED else None
    return HoldFacts(
        case["id"],
        status,
        case["suspended_at"],
        pending,
        resolved_by=None if resolution is None else resolution["by"],
        resolver_may_confirm=rule.resolver_may_confirm,
    )


def apply_hold(
    conn: psycopg.Connection[Any],
    case: Mapping[str, Any],
    by: User,
    request: ActionRequest,
    now: datetime,
    cfg: DispatchConfig,
    calendar: WorkCalendar,
) -> None:
    """Plan and write a non-status action; `case` is the locked row (see cases.lock_case_row) and
    `calendar` its community's working calendar."""
    facts = facts_of(conn, case, cfg.verification_for(case["category"]))
    p = plan_hold(request, facts, by.role, by.username, for_organisation=by.organisation is not None)
    case_id = case["id"]
    detail: dict[str, Any] = {}
    note = request.note
    if p.ask is not None:
        reason = request.reason or ""
        request_id = case_holds.insert_request(
            conn,
            case_id,
            p.ask,
            reason,
            request.extend_by if p.ask == "extension" else None,
            by.username,
            by.id,
            now,
        )
        detail = {"request_id": request_id, "reason": reason}
        if p.ask == "extension":
            detail["extend_by"] = request.extend_by
        note = reason + (f" (extend by {request.extend_by})" if p.ask == "extension" else "")
    pending = None
    if p.decide is not None:
        kind: Kind = "suspension" if "suspension" in request.action.value else "extension"
        pending = facts.pending[kind]
        case_holds.decide_request(
            conn, pending.id, p.decide, by.username, now, request.note or request.reason
        )
        detail = {
            "request_id": pending.id,
            "requested_by": pending.requested_by,
            "requested_at": pending.requested_at.isoformat(),
            "reason": pending.reason,
            "decided_by": by.username,
        }
        if p.decide == "declined":
            note = request.reason or request.note
    if p.suspend:
        reason = pending.reason if pending is not None else (request.reason or "")
        case_holds.start_suspension(
            conn, case_id, pending.id if pending is not None else None, reason, by.username, now
        )
        detail |= {
            "reason": reason,
            "requested_by": pending.requested_by if pending is not None else by.username,
            "approved_by": by.username,
            "self_approved": p.self_approved,
        }
        note = reason
    if p.resume:
        detail = _resume(conn, case, by, now, calendar) | {"note": request.note}
        note = request.note or f"after {detail['suspended_seconds']:g}s suspended"
    if p.extend is not None:
        base = case["resolve_due_at"] or now
        new_due = calendar.add_limit(base, p.extend)
        case_holds.set_deadlines(
            conn,
            case_id,
            ack_due_at=case["ack_due_at"],
            resolve_due_at=new_due,
            resolve_clock=p.extend.clock,
            reset_resolve_escalation=True,
        )
        detail |= {
            "from": None if case["resolve_due_at"] is None else case["resolve_due_at"].isoformat(),
            "to": new_due.isoformat(),
            "extend_by": str(p.extend),
            "requested_by": pending.requested_by if pending is not None else by.username,
            "approved_by": by.username,
            "self_approved": p.self_approved,
        }
        why = pending.reason if pending is not None else request.reason
        detail["reason"] = why
        note = f"resolution due {new_due.isoformat()}" + (f": {why}" if why else "")
    case_holds.touch(conn, case_id, now)
    case_store.add_event(
        conn, case_id, actor=by.username, action=p.event, at=now, note=note, detail=detail or None
    )


def _resume(
    conn: psycopg.Connection[Any], case: Mapping[str, Any], by: User, now: datetime, calendar: WorkCalendar
) -> dict[str, Any]:
    started = case_holds.end_suspension(conn, case["id"], by.username, now) or case["suspended_at"]
    ack_due, resolve_due = case["ack_due_at"], case["resolve_due_at"]
    if ack_due is not None and case["acknowledged_at"] is None:
        ack_due = resumed_deadline(calendar, case["ack_clock"], ack_due, started, now)
    if resolve_due is not None:
        resolve_due = resumed_deadline(calendar, case["resolve_clock"], resolve_due, started, now)
    case_holds.set_deadlines(conn, case["id"], ack_due_at=ack_due, resolve_due_at=resolve_due)
    return {
        "suspended_from": started.isoformat(),
        "suspended_seconds": max(0.0, (now - started).total_seconds()),
        "ack_due_at": None if ack_due is None else ack_due.isoformat(),
        "resolve_due_at": None if resolve_due is None else resolve_due.isoformat(),
    }


def end_on_cancel(conn: psycopg.Connection[Any], case_id: int, by: str, now: datetime) -> None:
    """A cancelled case is not suspended any more, and its pending requests are moot."""
    case_holds.end_suspension(conn, case_id, by, now)
    for r in case_holds.pending_requests(conn, case_id):
        case_holds.decide_request(conn, r["id"], "declined", by, now, "the case was cancelled")
