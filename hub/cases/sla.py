"""Deadlines and escalation. Pure: every decision is made from stored times and an injected `now`, so a
restarted hub (or another worker) reaches the same decision and nothing depends on in-memory timers.

Each missed deadline escalates a case one level along team → supervisor → street office: a missed
acknowledgement and a missed resolution each count once, and each run of the job takes one step.
A suspended case does not escalate; when it resumes, each deadline gets back the time it had left when
the suspension began, on its own clock (wall-clock or working time, see `calendar`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from hub.cases.calendar import Clock, Limit, LimitField, WorkCalendar
from hub.cases.routing import OneOrMore
from hub.domain.cases import OPEN_STATUSES, CaseStatus, Escalation, Level


class SlaRule(BaseModel):
    """Targets per category and severity, for every case (see `alert_deadlines` for how an alert
    rule's own limits combine with them). A limit is plain time (`5m`, `2h`, `3d`) or working time on
    the configured calendar (`4wh`, `2wd`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: OneOrMore | None = None
    severity: OneOrMore | None = None
    ack_within: LimitField
    resolve_within: LimitField

    @property
    def catch_all(self) -> bool:
        return self.category is None and self.severity is None


@dataclass(frozen=True)
class Deadlines:
    ack_due_at: datetime
    resolve_due_at: datetime
    ack_clock: Clock = "calendar"
    resolve_clock: Clock = "calendar"


def sla_rule_for(rules: Sequence[SlaRule], category: str, severity: str) -> SlaRule:
    """The first rule that fits; the configuration guarantees a catch-all at the end."""
    for r in rules:
        if (r.category is None or category in r.category) and (r.severity is None or severity in r.severity):
            return r
    raise LookupError(f"no SLA rule fits category {category} and severity {severity}")


def deadlines_for(
    rules: Sequence[SlaRule],
    category: str,
    severity: str,
    at: datetime,
    calendar: WorkCalendar | None = None,
) -> Deadlines:
    """Working-time limits count on `calendar` (default: Monday to Friday, 09:00-18:00, Asia/Shanghai)."""
    cal = calendar or WorkCalendar()
    r = sla_rule_for(rules, category, severity)
    return Deadlines(
        cal.add_limit(at, r.ack_within),
        cal.add_limit(at, r.resolve_within),
        r.ack_within.clock,
        r.resolve_within.clock,
    )


def alert_deadlines(
    rules: Sequence[SlaRule],
    category: str,
    severity: str,
    at: datetime,
    rule_limits: tuple[float, float],
    calendar: WorkCalendar | None = None,
) -> Deadlines:
    """Deadlines of an alert-raised case. The SLA table's limit for its category and severity applies
    as it does to people's cases. Where that limit is working time, the work waits for working hours,
    so the alert rule's own round-the-clock limit (`rule_limits`: ack, resolve seconds) is not used;
    where it is plain time (emergencies), the rule's limit wins when it is shorter, as a rule may be
    stricter than its category (a smoke alarm against a reported fire)."""
    cal = calendar or WorkCalendar()
    r = sla_rule_for(rules, category, severity)
    ack, ack_clock = _alert_deadline(cal, at, r.ack_within, rule_limits[0])
    resolve, resolve_clock = _alert_deadline(cal, at, r.resolve_within, rule_limits[1])
    return Deadlines(ack, resolve, ack_clock, resolve_clock)


def _alert_deadline(
    cal: WorkCalendar, at: datetime, limit: Limit, rule_seconds: float
) -> tuple[datetime, Clock]:
    if limit.clock == "working":
        return cal.add_limit(at, limit), "working"
    return at + timedelta(seconds=min(limit.seconds, rule_seconds)), "calendar"


def resumed_deadline(
    calendar: WorkCalendar, clock: Clock, due: datetime, suspended_at: datetime, resumed_at: datetime
) -> datetime:
    """A deadline after a suspension: the time it had left when the suspension began (on its own
    clock) counted again from the resumption. A deadline already missed when the suspension began
    stays where it was."""
    if due <= suspended_at:
        return due
    return calendar.after(clock, resumed_at, calendar.remaining(clock, suspended_at, due))


@dataclass(frozen=True)
class SlaState:
    status: CaseStatus
    level: Level
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    acknowledged_at: datetime | None
    ack_escalated_at: datetime | None
    resolve_escalated_at: datetime | None
    suspended: bool = False


def next_escalation(s: SlaState, now: datetime) -> Escalation | None:
    """One step at most: the acknowledgement deadline first, then the resolution deadline. Suspended
    time does not count, so a suspended case never escalates."""
    if s.status not in OPEN_STATUSES or s.level is Level.STREET_OFFICE or s.suspended:
        return None
    up = Level(s.level + 1)
    if (
        s.ack_due_at is not None
        and s.ack_escalated_at is None
        and s.acknowledged_at is None
        and now > s.ack_due_at
    ):
        return Escalation("ack", s.ack_due_at, up)
    if s.resolve_due_at is not None and s.resolve_escalated_at is None and now > s.resolve_due_at:
        return Escalation("resolve", s.resolve_due_at, up)
    return None
