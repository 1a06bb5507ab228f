"""Verified closure: what must be true before a resolved case may be closed, as a checklist.

- the case is resolved;
- every alert of the case has cleared — on real readings; an alert frozen for lack of data is not
  cleared — at least `normal_for` ago (per category, `verification` in config/routing.yaml);
- the handler said what was done (the `resolve` note);
- where the category asks for it, evidence of the finished work (`POST /cases/{id}/attachments`): a
  photo, or a note alone;
- where the category asks for it, a supervisor (admin or operator) confirmed the work on site (action
  `confirm_on_site`) — someone other than the person who resolved it, unless the category's
  `resolver_may_confirm` allows that person too;
- no street-office call on an organisation is still open (`hub.cases.calls`): each one called has
  declined or reported done.

Evidence counts for the current round only: after a `reopen`, the next resolution needs its own note,
evidence and confirmation. `checklist` is pure and names each item with its state: done, waiting (it
passes by itself at `until`: readings must stay normal a while longer) or missing (someone must act).
The closure API shows it and `require_closable` enforces it, so the page offers Close exactly when the
hub will accept it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from hub.cases.config import VerificationRule
from hub.domain.calls import OPEN_CALL_STATES, CallState
from hub.domain.cases import CaseStatus, TransitionRefused
from hub.store import case_calls as call_store
from hub.store import cases as case_store

ItemCode = Literal["resolved", "readings_normal", "resolution_note", "evidence", "on_site", "calls"]
ItemState = Literal["done", "waiting", "missing"]


@dataclass(frozen=True)
class AlertFacts:
    id: int
    rule_id: str
    subject: str
    device_id: str | None
    status: str
    cleared_at: datetime | None
    data_state: str = "live"
    data_state_since: datetime | None = None


@dataclass(frozen=True)
class Resolution:
    """The latest `resolve` of the current round."""

    by: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class Confirmation:
    by: str
    at: datetime


@dataclass(frozen=True)
class ClosureFacts:
    case_id: int
    status: CaseStatus
    alerts: Sequence[AlertFacts]
    resolution: Resolution | None
    evidence_photos: int = 0
    evidence_notes: int = 0
    """evidence given as a note without a photo"""
    confirmations: Sequence[Confirmation] = ()
    """on-site confirmations of the current round, oldest first"""
    called: Sequence[str] = ()
    """organisations the case has called on"""
    calls_open: Sequence[str] = ()
    """organisations whose call is still open"""


@dataclass(frozen=True)
class Item:
    """One thing closing needs. `why` says what is wrong while it is not done (not_resolved,
    not_cleared, no_data, too_recent, no_note, no_evidence, not_confirmed, only_by_resolver,
    calls_open)."""

    code: ItemCode
    state: ItemState
    message: str
    """in English, for the API and the refusal"""
    why: str | None = None
    alert: AlertFacts | None = None
    since: datetime | None = None
    """readings normal (or no data) since"""
    until: datetime | None = None
    """a waiting item passes at this time"""
    by: str | None = None
    at: datetime | None = None
    photos: int = 0
    notes: int = 0
    organisations: tuple[str, ...] = ()
    """calls: the organisations still to answer"""


@dataclass(frozen=True)
class Checklist:
    case_id: int
    status: CaseStatus
    items: tuple[Item, ...]
    normal_for: float
    resolver_may_confirm: bool

    @property
    def can_close(self) -> bool:
        return all(i.state == "done" for i in self.items)

    @property
    def closable_at(self) -> datetime | None:
        """When Close will pass by itself, if nothing but time is missing; None otherwise (and when it
        can pass now)."""
        if any(i.state == "missing" for i in self.items):
            return None
        waits = [i.until for i in self.items if i.state == "waiting" and i.until is not None]
        return max(waits) if waits else None

    @property
    def missing(self) -> list[str]:
        return [i.message for i in self.items if i.state != "done"]


class ClosureRefused(TransitionRefused):
    """409: the case may not be closed yet; `missing` names each thing that is missing."""

    def __init__(self, case_id: int, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"case {case_id} cannot be closed yet: " + "; ".join(missing))


def stamp(at: datetime) -> str:
    """A time in a refusal's English message: to the minute, in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def checklist(rule: VerificationRule, facts: ClosureFacts, now: datetime) -> Checklist:
    items = [_resolved(facts)]
    items += [_readings(a, rule, now) for a in facts.alerts]
    items.append(_note(facts))
    if rule.photo:
        items.append(_evidence(facts))
    if rule.on_site:
        items.append(_on_site(facts, rule.resolver_may_confirm))
    if facts.called:
        items.append(_calls(facts))
    return Checklist(facts.case_id, facts.status, tuple(items), rule.normal_for, rule.resolver_may_confirm)


def _resolved(facts: ClosureFacts) -> Item:
    if facts.status is CaseStatus.RESOLVED:
        return Item("resolved", "done", "the case is resolved")
    return Item(
        "resolved",
        "missing",
        f"the case is {facts.status}: only a resolved case is closed",
        why="not_resolved",
    )


def _readings(a: AlertFacts, rule: VerificationRule, now: datetime) -> Item:
    name = f"alert {a.rule_id} on {a.subject}"
    if a.status == "open" and a.data_state == "no_data":
        since = f" since {stamp(a.data_state_since)}" if a.data_state_since else ""
        return Item(
            "readings_normal",
            "missing",
            f"{name} has no data{since}: a silent device is not a recovered one",
            why="no_data",
            alert=a,
            since=a.data_state_since,
        )
    if a.status == "open" or a.cleared_at is None:
        return Item("readings_normal", "missing", f"{name} has not cleared", why="not_cleared", alert=a)
    until = a.cleared_at + timedelta(seconds=rule.normal_for)
    if now < until:
        return Item(
            "readings_normal",
            "waiting",
            f"{name} cleared at {stamp(a.cleared_at)}; readings must stay normal for "
            f"{rule.normal_for / 60:g} min, until {stamp(until)}",
            why="too_recent",
            alert=a,
            since=a.cleared_at,
            until=until,
        )
    return Item(
        "readings_normal",
        "done",
        f"{name}: readings normal since {stamp(a.cleared_at)}",
        alert=a,
        since=a.cleared_at,
        until=until,
    )


def _note(facts: ClosureFacts) -> Item:
    r = facts.resolution
    if r is not None and r.note and r.note.strip():
        return Item("resolution_note", "done", f"{r.by} said what was done", by=r.by, at=r.at)
    return Item(
        "resolution_note",
        "missing",
        "no resolution note saying what was done (resolve with a note)",
        why="no_note",
    )


def _evidence(facts: ClosureFacts) -> Item:
    photos, notes = facts.evidence_photos, facts.evidence_notes
    if photos + notes:
        return Item("evidence", "done", "evidence of the finished work", photos=photos, notes=notes)
    return Item(
        "evidence",
        "missing",
        "no evidence of the finished work: attach a photo, or a note saying what was done",
        why="no_evidence",
    )


def _on_site(facts: ClosureFacts, resolver_may_confirm: bool) -> Item:
    resolver = facts.resolution.by if facts.resolution is not None else None
    valid = [c for c in facts.confirmations if resolver_may_confirm or c.by != resolver]
    if valid:
        c = valid[-1]
        return Item("on_site", "done", f"{c.by} confirmed the work on site", by=c.by, at=c.at)
    if facts.confirmations:
        return Item(
            "on_site",
            "missing",
            f"the work was confirmed on site only by {resolver}, who resolved it: another admin or "
            "operator confirms it",
            why="only_by_resolver",
            by=resolver,
        )
    excluded = None if resolver_may_confirm else resolver
    other = "" if excluded is None else f" other than {excluded}, who resolved it"
    return Item(
        "on_site",
        "missing",
        f"no on-site confirmation by an admin or operator{other} (action confirm_on_site)",
        why="not_confirmed",
        by=excluded,
    )


def _calls(facts: ClosureFacts) -> Item:
    if not facts.calls_open:
        return Item("calls", "done", "every organisation called on has answered done or declined")
    waiting = tuple(facts.calls_open)
    return Item(
        "calls",
        "missing",
        f"the call on {', '.join(waiting)} is open: it must report done or decline",
        why="calls_open",
        organisations=waiting,
    )


def facts_of(conn: psycopg.Connection[Any], case_id: int) -> ClosureFacts:
    raw = case_store.closure_facts(conn, case_id)
    resolution = raw["resolution"]
    return ClosureFacts(
        case_id=case_id,
        status=CaseStatus(raw["status"]),
        alerts=[AlertFacts(**a) for a in raw["alerts"]],
        resolution=None if resolution is None else Resolution(**resolution),
        evidence_photos=raw["evidence_photos"],
        evidence_notes=raw["evidence_notes"],
        confirmations=[Confirmation(**c) for c in raw["confirmations"]],
        called=call_store.open_organisations(conn, case_id, list(CallState)),
        calls_open=call_store.open_organisations(conn, case_id, sorted(OPEN_CALL_STATES)),
    )


def checklist_of(
    conn: psycopg.Connection[Any], case_id: int, rule: VerificationRule, now: datetime
) -> Checklist:
    return checklist(rule, facts_of(conn, case_id), now)


def require_closable(
    conn: psycopg.Connection[Any], case_id: int, rule: VerificationRule, now: datetime
) -> None:
    found = checklist_of(conn, case_id, rule, now)
    if not found.can_close:
        raise ClosureRefused(case_id, found.missing)
