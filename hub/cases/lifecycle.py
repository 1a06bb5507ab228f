"""The case lifecycle as a pure state machine; every status change goes through `check`."""

from enum import StrEnum


class CaseStatus(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


S = CaseStatus
ALLOWED: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.NEW: frozenset({S.DISPATCHED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.ACKNOWLEDGED, S.DISPATCHED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.DISPATCHED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.DISPATCHED, S.CANCELLED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.CANCELLED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
OPEN_STATUSES = frozenset(s for s in CaseStatus if s not in {S.RESOLVED, S.CLOSED, S.CANCELLED})


class TransitionRefused(ValueError):
    pass


def check(current: CaseStatus, target: CaseStatus) -> None:
    if target not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none (final state)"
        raise TransitionRefused(f"a case that is {current} cannot become {target}; allowed next: {allowed}")
