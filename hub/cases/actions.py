"""What a person may do to a case: each action, who may take it, what it needs, and the step it makes.

Pure, so the rules that the API enforces can be read and tested in one place; the lifecycle table
itself is `hub.domain.cases.MOVES`. Status actions (`Action`) move the case along the lifecycle and are planned here;
the others (`HoldAction`: on-site confirmation, suspensions, deadline extensions) leave the status alone
and are planned in `holds`.
"""

from dataclasses import dataclass
from enum import StrEnum

from hub.domain.cases import CaseStatus, Move, Step, check, target_of
from hub.domain.errors import Forbidden, Invalid, NotFound
from hub.domain.roles import HANDLERS, VERIFIERS


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    ASSIGN = "assign"
    HAND_BACK = "hand_back"


class HoldAction(StrEnum):
    """Actions that leave the status alone (planned in `holds`)."""

    CONFIRM_ON_SITE = "confirm_on_site"
    SUSPEND = "suspend"
    APPROVE_SUSPENSION = "approve_suspension"
    DECLINE_SUSPENSION = "decline_suspension"
    RESUME = "resume"
    EXTEND = "extend"
    APPROVE_EXTENSION = "approve_extension"
    DECLINE_EXTENSION = "decline_extension"


ORGANISATION_ACTIONS: frozenset[Action | HoldAction] = frozenset(
    {
        Action.ACKNOWLEDGE,
        Action.START,
        Action.RESOLVE,
        Action.HAND_BACK,
        HoldAction.SUSPEND,
        HoldAction.EXTEND,
    }
)
"""What an account bound to an organisation may do to its organisation's cases: take them, work them,
resolve them, ask for a suspension or an extension, or say they are not its own; verifying, closing,
deciding on requests and reassigning stay with the hub's people."""


def check_organisation_action(action: Action | HoldAction) -> None:
    if action not in ORGANISATION_ACTIONS:
        allowed = ", ".join(sorted(ORGANISATION_ACTIONS))
        raise ActionForbidden(f"an organisation's account may {allowed}, not {action}")


MOVE: dict[Action, Move] = {
    Action.ACKNOWLEDGE: Move.ACKNOWLEDGE,
    Action.START: Move.START,
    Action.RESOLVE: Move.RESOLVE,
    Action.CLOSE: Move.CLOSE,
    Action.REOPEN: Move.REOPEN,
    Action.CANCEL: Move.CANCEL,
    Action.ASSIGN: Move.ASSIGN,
    Action.HAND_BACK: Move.HAND_BACK,
}


class ActionForbidden(Forbidden):
    pass


class ActionIncomplete(Invalid):
    pass


class CaseNotFound(NotFound):
    pass


@dataclass(frozen=True)
class ActionRequest:
    action: Action | HoldAction
    note: str | None = None
    team: str | None = None
    reason: str | None = None
    extend_by: str | None = None


def plan(request: ActionRequest, current: CaseStatus, role: str, *, for_organisation: bool = False) -> Step:
    """Refuses in the order a caller can fix things: role (403), missing input (422), state (409).
    `for_organisation`: the caller is bound to an organisation and acts on one of its cases."""
    a = request.action
    if not isinstance(a, Action):
        raise TypeError(f"{a} does not move a case along its lifecycle; see hub.cases.holds")
    if for_organisation:
        check_organisation_action(a)
    elif role not in HANDLERS:
        raise ActionForbidden(f"a {role} cannot act on cases; residents may rate a resolved case")
    if a is Action.CLOSE and role not in VERIFIERS:
        raise ActionForbidden("closing verifies the work: it needs the role admin or operator")
    if a is Action.RESOLVE and not given(request.note):
        raise ActionIncomplete("resolve needs a note saying what was done")
    if a is Action.CANCEL and not given(request.reason):
        raise ActionIncomplete("cancel needs a reason")
    if a is Action.HAND_BACK and not given(request.reason):
        raise ActionIncomplete("hand_back needs a reason: say why the case is not yours")
    if a is Action.ASSIGN and not given(request.team):
        raise ActionIncomplete("assign needs the team to hand the case to")
    move = MOVE[a]
    target = target_of(move)
    check(move, current, target)
    return Step(
        move=move,
        target=target,
        note=request.reason if a in (Action.CANCEL, Action.HAND_BACK) else request.note,
        team=request.team if a is Action.ASSIGN else None,
        take_case=a is Action.ACKNOWLEDGE,
        mark_resolved=a is Action.RESOLVE,
        cancel_reason=request.reason if a is Action.CANCEL else None,
        rework=a is Action.REOPEN,
    )


def given(text: str | None) -> bool:
    return text is not None and text.strip() != ""
