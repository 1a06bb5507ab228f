"""The rows behind the case KPIs, as the store reads them and the formulas in `hub.cases.kpis` use them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CaseRow:
    id: int
    community_id: str
    category: str
    team: str | None
    grid: str | None
    severity: str
    source: str
    status: str
    created_at: datetime
    resolve_due_at: datetime | None
    cancel_reason: str | None
    ack_due_at: datetime | None = None
    organisation: str | None = None
    """the organisation owning the case's team: the one responsible for it"""


@dataclass(frozen=True)
class EventRow:
    """A status-changing event of a case (`to_status` set); other events are ignored."""

    case_id: int
    id: int
    at: datetime
    to_status: str | None
    note: str | None
    action: str | None = None


@dataclass(frozen=True)
class RatingRow:
    case_id: int
    stars: int
    created_at: datetime


@dataclass(frozen=True)
class AlertLink:
    case_id: int
    rule_id: str
    device_id: str | None


@dataclass(frozen=True)
class SuspensionRow:
    case_id: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ExtensionRow:
    """An approved (or an admin's self-approved) extension of a case's resolve deadline."""

    case_id: int
    at: datetime


@dataclass(frozen=True)
class Cohort:
    cases: Sequence[CaseRow]
    events: Sequence[EventRow] = ()
    ratings: Sequence[RatingRow] = ()
    alerts: Sequence[AlertLink] = ()
    suspensions: Sequence[SuspensionRow] = ()
    extensions: Sequence[ExtensionRow] = ()
