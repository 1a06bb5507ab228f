"""Verified closure: what must be true before a resolved case may be closed.

- every alert of the case has cleared — on real readings; an alert frozen for lack of data is not
  cleared — at least `normal_for` ago (per category, `verification` in config/routing.yaml);
- the handler said what was done (the `resolve` note) and, where the category asks for it, attached
  evidence of the finished work (`POST /cases/{id}/attachments`): a photo, or a note alone;
- where the category asks for it, a supervisor (admin or operator) confirmed the work on site
  (action `confirm_on_site`).

Evidence counts for the current round only: after a `reopen`, the next resolution needs its own note,
evidence and confirmation. `missing` is pure; `require_closable` gathers the facts and raises.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.cases.config import VerificationRule
from hub.domain.cases import TransitionRefused
from hub.store import cases as case_store


class ClosureRefused(TransitionRefused):
    """409: the case may not be closed yet; `missing` names each thing that is missing."""

    def __init__(self, case_id: int, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"case {case_id} cannot be closed yet: " + "; ".join(missing))


@dataclass(frozen=True)
class AlertFacts:
    rule_id: str
    subject: str
    status: str
    cleared_at: datetime | None
    data_state: str
    data_state_since: datetime | None


@dataclass(frozen=True)
class ClosureFacts:
    case_id: int
    alerts: list[AlertFacts]
    resolve_note: str | None
    evidence_photos: int
    confirmed_on_site_by: str | None
    evidence_notes: int = 0  # evidence given as a note without a photo


def missing(rule: VerificationRule, facts: ClosureFacts, now: datetime) -> list[str]:
    out: list[str] = []
    normal_for = timedelta(seconds=rule.normal_for)
    for a in facts.alerts:
        name = f"alert {a.rule_id} on {a.subject}"
        if a.status == "open" and a.data_state == "no_data":
            since = f" since {a.data_state_since.isoformat()}" if a.data_state_since else ""
            out.append(f"{name} has no data{since}: a silent device is not a recovered one")
        elif a.status == "open":
            out.append(f"{name} has not cleared")
        elif a.cleared_at is not None and now - a.cleared_at < normal_for:
            out.append(
                f"{name} cleared at {a.cleared_at.isoformat()}; readings must stay normal for "
                f"{rule.normal_for / 60:g} min, until {(a.cleared_at + normal_for).isoformat()}"
            )
    if not (facts.resolve_note and facts.resolve_note.strip()):
        out.append("no resolution note saying what was done (resolve with a note)")
    if rule.photo and facts.evidence_photos + facts.evidence_notes == 0:
        out.append(
            "no evidence of the finished work (attach a photo or a note with "
            f"POST /api/v1/cases/{facts.case_id}/attachments)"
        )
    if rule.on_site and facts.confirmed_on_site_by is None:
        out.append("no on-site confirmation by a supervisor (action confirm_on_site by an admin or operator)")
    return out


def facts_of(conn: psycopg.Connection[Any], case_id: int) -> ClosureFacts:
    raw = case_store.closure_facts(conn, case_id)
    return ClosureFacts(
        case_id=case_id,
        alerts=[AlertFacts(**a) for a in raw["alerts"]],
        resolve_note=raw["resolve_note"],
        evidence_photos=raw["evidence_photos"],
        confirmed_on_site_by=raw["confirmed_on_site_by"],
        evidence_notes=raw["evidence_notes"],
    )


def require_closable(
    conn: psycopg.Connection[Any], case_id: int, rule: VerificationRule, now: datetime
) -> None:
    gaps = missing(rule, facts_of(conn, case_id), now)
    if gaps:
        raise ClosureRefused(case_id, gaps)
