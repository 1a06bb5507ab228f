"""Street-office calls: a case calls on one or more organisations for a joint response, and each one
answers. `ANSWERS` is the table of which answer a call in which state takes, like the case lifecycle's
moves: accept an open call, decline it (with a reason), or report done (after accepting, or at once)."""

from enum import StrEnum

from hub.domain.errors import Conflict


class CallState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DONE = "done"


class CallAnswer(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    DONE = "done"


OPEN_CALL_STATES = frozenset({CallState.OPEN, CallState.ACCEPTED})
"""A call in one of these still waits for its organisation: the case cannot close."""

ANSWERS: dict[CallAnswer, tuple[frozenset[CallState], CallState]] = {
    CallAnswer.ACCEPT: (frozenset({CallState.OPEN}), CallState.ACCEPTED),
    CallAnswer.DECLINE: (frozenset({CallState.OPEN}), CallState.DECLINED),
    CallAnswer.DONE: (frozenset({CallState.OPEN, CallState.ACCEPTED}), CallState.DONE),
}


class CallAnswered(Conflict):
    """409: the call's state does not take this answer."""


def answer_to(state: CallState, answer: CallAnswer) -> CallState:
    sources, target = ANSWERS[answer]
    if state not in sources:
        raise CallAnswered(f"a call that is {state} cannot be answered {answer}")
    return target
