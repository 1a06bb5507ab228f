"""The case lifecycle: statuses, the named moves between them, and the records a move carries.

Every change of a case's status is one of the moves in `MOVES`, checked by `check` and written by
`hub.store.case_status.move`, the only code that writes `cases.status` and the event row that records
it. People's actions (acknowledge, resolve, …) are moves, and so are the hub's own: a case opened and
dispatched, claimed from a queue, merged into another case, absorbed into a correlated group's case,
folded into a down parent's case, and split off again; a reporter withdraws their own report while
nobody has started on it; the team a case was sent to hands it back to the dispatcher's queue ("not
ours", with a reason).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

from hub.domain.errors import Conflict


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
DONE_STATUSES: tuple[CaseStatus, ...] = (S.RESOLVED, S.CLOSED, S.CANCELLED)
"""A case in one of these is no longer worked on; every other status is open."""
OPEN_STATUSES: tuple[CaseStatus, ...] = tuple(s for s in CaseStatus if s not in DONE_STATUSES)


class Move(StrEnum):
    """A named edge of the lifecycle."""

    OPEN = "open"
    DISPATCH = "dispatch"
    ASSIGN = "assign"
    ACKNOWLEDGE = "acknowledge"
    CLAIM = "claim"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    MERGE = "merge"
    ABSORB = "absorb"
    FOLD = "fold"
    SPLIT = "split"
    WITHDRAW = "withdraw"
    HAND_BACK = "hand_back"


EVENT: dict[Move, str] = {
    Move.OPEN: "opened",
    Move.DISPATCH: "dispatched",
    Move.ASSIGN: "assigned",
    Move.ACKNOWLEDGE: "acknowledged",
    Move.CLAIM: "claimed",
    Move.START: "started",
    Move.RESOLVE: "resolved",
    Move.CLOSE: "closed",
    Move.REOPEN: "reopened",
    Move.CANCEL: "cancelled",
    Move.MERGE: "merged",
    Move.ABSORB: "absorbed",
    Move.FOLD: "absorbed",
    Move.SPLIT: "split",
    Move.WITHDRAW: "withdrawn",
    Move.HAND_BACK: "handed_back",
}
"""The `action` of the event row that records each move: a fold reads as an absorption to people."""


@dataclass(frozen=True)
class Edge:
    sources: frozenset[CaseStatus | None]
    """Statuses the move leaves from; None is a case not yet written."""
    targets: frozenset[CaseStatus]
    """Statuses it may arrive at: one for every move but `split`, which restores the one a merge left."""


def _edge(sources: set[CaseStatus | None], *targets: CaseStatus) -> Edge:
    return Edge(frozenset(sources), frozenset(targets))


_WORKING = {S.DISPATCHED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.REOPENED}
MOVES: dict[Move, Edge] = {
    Move.OPEN: _edge({None}, S.NEW),
    Move.DISPATCH: _edge({S.NEW}, S.DISPATCHED),
    Move.ASSIGN: _edge({S.NEW, *_WORKING}, S.DISPATCHED),
    Move.ACKNOWLEDGE: _edge({S.DISPATCHED, S.REOPENED}, S.ACKNOWLEDGED),
    Move.CLAIM: _edge({S.DISPATCHED}, S.ACKNOWLEDGED),
    Move.START: _edge({S.ACKNOWLEDGED, S.REOPENED}, S.IN_PROGRESS),
    Move.RESOLVE: _edge({S.IN_PROGRESS}, S.RESOLVED),
    Move.CLOSE: _edge({S.RESOLVED}, S.CLOSED),
    Move.REOPEN: _edge({S.RESOLVED}, S.REOPENED),
    Move.CANCEL: _edge({S.NEW, *_WORKING}, S.CANCELLED),
    Move.MERGE: _edge(set(OPEN_STATUSES), S.CANCELLED),
    Move.ABSORB: _edge(set(OPEN_STATUSES), S.CANCELLED),
    Move.FOLD: _edge({S.NEW, S.DISPATCHED}, S.CANCELLED),
    Move.SPLIT: _edge({S.CANCELLED}, *OPEN_STATUSES),
    Move.WITHDRAW: _edge({S.NEW, S.DISPATCHED}, S.CANCELLED),
    Move.HAND_BACK: _edge(set(_WORKING), S.DISPATCHED),
}
MERGING_MOVES = frozenset({Move.MERGE, Move.ABSORB, Move.FOLD})
"""Moves that end a case by taking it into another one: it is a duplicate, not a cancelled problem."""
PEOPLE_MOVES = frozenset(
    {
        Move.ASSIGN,
        Move.ACKNOWLEDGE,
        Move.START,
        Move.RESOLVE,
        Move.CLOSE,
        Move.REOPEN,
        Move.CANCEL,
        Move.WITHDRAW,
        Move.HAND_BACK,
    }
)
"""Moves a person asks for by name; the others are made by the hub (a claim is an acknowledgement)."""


class TransitionRefused(Conflict):
    """409: the case's current status does not allow what was asked."""


def check(move: Move, current: CaseStatus | None, target: CaseStatus) -> None:
    """Refuses a move the table does not have, naming what a person could do instead."""
    edge = MOVES[move]
    if current in edge.sources and target in edge.targets:
        return
    if move in PEOPLE_MOVES:
        reachable = {t for m in PEOPLE_MOVES if current in MOVES[m].sources for t in MOVES[m].targets}
        allowed = ", ".join(sorted(reachable)) or "none (final state)"
        raise TransitionRefused(f"a case that is {current} cannot become {target}; allowed next: {allowed}")
    sources = ", ".join(sorted(str(s) for s in edge.sources))
    raise TransitionRefused(
        f"{move} takes a case that is {sources} to {', '.join(sorted(edge.targets))}, "
        f"not one that is {current} to {target}"
    )


def target_of(move: Move) -> CaseStatus:
    """The one status `move` arrives at (every move but `split`)."""
    (target,) = MOVES[move].targets
    return target


@dataclass(frozen=True)
class Step:
    """A move and what it changes besides the status, written as one UPDATE with its event row."""

    move: Move
    target: CaseStatus
    note: str | None = None
    team: str | None = None
    """hand the case to this team (and drop its assignee)"""
    take_case: bool = False
    """the actor becomes the assignee unless there is one; the first acknowledgement time is kept"""
    mark_resolved: bool = False
    cancel_reason: str | None = None
    clear_cancel_reason: bool = False
    rework: bool = False


@dataclass(frozen=True)
class Place:
    """Where a case is about, as one-case-per-problem matching sees it: the same device, or the same
    building and category, within a window of `at` (hub time)."""

    community: str
    device_id: str | None
    building: str | None
    category: str
    at: datetime


class Level(IntEnum):
    """Who a case has been escalated to."""

    TEAM = 0
    SUPERVISOR = 1
    STREET_OFFICE = 2

    @property
    def label(self) -> str:
        return self.name.lower()


Deadline = Literal["ack", "resolve"]
DEADLINE_WORDS: dict[Deadline, str] = {"ack": "acknowledgement", "resolve": "resolution"}


@dataclass(frozen=True)
class Escalation:
    deadline: Deadline
    due_at: datetime
    level: Level

    def describe(self) -> str:
        to = self.level.label.replace("_", " ")
        return f"{DEADLINE_WORDS[self.deadline]} was due {self.due_at.isoformat()}; escalated to {to}"
