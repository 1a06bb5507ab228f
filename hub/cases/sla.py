"""Deadlines and escalation. Pure: every decision is made from stored times and an injected `now`, so a
restarted hub (or another worker) reaches the same decision and nothing depends on in-memory timers.

Each missed deadline escalates a case one level along team → supervisor → street office: a missed
acknowledgement and a missed resolution each count once, and each run of the job takes one step.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hub.cases.lifecycle import OPEN_STATUSES, CaseStatus
from hub.cases.routing import OneOrMore
from hub.engine.schema import Seconds


class Level(IntEnum):
    TEAM = 0
    SUPERVISOR = 1
    STREET_OFFICE = 2

    @property
    def label(self) -> str:
        return self.name.lower()


Deadline = Literal["ack", "resolve"]
DEADLINE_WORDS: dict[Deadline, str] = {"ack": "acknowledgement", "resolve": "resolution"}


class SlaRule(BaseModel):
    """Targets for resident and operator cases; alert cases take theirs from the alert rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: OneOrMore | None = None
    severity: OneOrMore | None = None
    ack_within: Seconds
    resolve_within: Seconds

    @property
    def catch_all(self) -> bool:
        return self.category is None and self.severity is None


@dataclass(frozen=True)
class Deadlines:
    ack_due_at: datetime
    resolve_due_at: datetime

    @classmethod
    def after(cls, at: datetime, ack_within_s: float, resolve_within_s: float) -> "Deadlines":
        return cls(at + timedelta(seconds=ack_within_s), at + timedelta(seconds=resolve_within_s))


def deadlines_for(rules: Sequence[SlaRule], category: str, severity: str, at: datetime) -> Deadlines:
    """The first rule that fits; the configuration guarantees a catch-all at the end."""
    for r in rules:
        if (r.category is None or category in r.category) and (r.severity is None or severity in r.severity):
            return Deadlines.after(at, r.ack_within, r.resolve_within)
    raise LookupError(f"no SLA rule fits category {category} and severity {severity}")


@dataclass(frozen=True)
class SlaState:
    status: CaseStatus
    level: Level
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    acknowledged_at: datetime | None
    ack_escalated_at: datetime | None
    resolve_escalated_at: datetime | None


@dataclass(frozen=True)
class Escalation:
    deadline: Deadline
    due_at: datetime
    level: Level

    def describe(self) -> str:
        to = self.level.label.replace("_", " ")
        return f"{DEADLINE_WORDS[self.deadline]} was due {self.due_at.isoformat()}; escalated to {to}"


def next_escalation(s: SlaState, now: datetime) -> Escalation | None:
    """One step at most: the acknowledgement deadline first, then the resolution deadline."""
    if s.status not in OPEN_STATUSES or s.level is Level.STREET_OFFICE:
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
