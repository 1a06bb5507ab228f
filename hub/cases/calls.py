"""The street office calls, departments respond: a verifier (the street office's operator, or an admin)
calls on one or more organisations for a joint response to a case, each with a response deadline on the
community's working calendar; an account of the called organisation answers — accept, decline with a
reason, report done. The case cannot close while a call is open (`hub.cases.verification`), and an
unanswered call past its deadline is escalated once (`hub.jobs.escalation`). Every call and answer is an
event in the case's history, so it is notified like any other case event."""

from datetime import datetime
from typing import Any

import psycopg

from hub.cases.actions import ActionForbidden, ActionIncomplete, CaseNotFound, given
from hub.cases.calendar import Limit, parse_limit
from hub.cases.config import DispatchConfig
from hub.cases.opening import calendar_of
from hub.domain.calls import CallAnswer, CallState, answer_to
from hub.domain.cases import DONE_STATUSES, TransitionRefused
from hub.domain.errors import Conflict, Invalid, NotFound
from hub.domain.roles import VERIFIERS
from hub.domain.users import User
from hub.store import case_calls as call_store
from hub.store import cases as case_store
from hub.store import organisations as org_store

MAX_TEXT = 2000


def call(
    conn: psycopg.Connection[Any],
    case_id: int,
    by: User,
    organisations: list[str],
    request: str,
    respond_within: str,
    now: datetime,
    cfg: DispatchConfig,
) -> list[int]:
    """The new calls' ids, one per organisation, all or none."""
    if by.role not in VERIFIERS or by.organisation is not None:
        raise ActionForbidden("the street office calls on departments: it needs the role admin or operator")
    if not given(request):
        raise ActionIncomplete("request is blank: say what the departments are asked to do")
    limit = _limit(respond_within)
    with conn.transaction():
        case = case_store.lock_case_row(conn, case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        if case["status"] in DONE_STATUSES:
            raise TransitionRefused(f"a case that is {case['status']} calls on nobody")
        community = case["community_id"]
        respond_by = calendar_of(conn, cfg, community).add_limit(now, limit)
        ids = []
        for organisation in sorted(set(organisations)):
            found = org_store.organisation(conn, organisation)
            if found is None or community not in found["communities"]:
                raise Invalid(f"no organisation {organisation} serving {community}")
            call_id = call_store.insert(
                conn, case_id, organisation, request.strip(), by.username, now, respond_by
            )
            if call_id is None:
                raise Conflict(f"{organisation} has an open call on case {case_id} already")
            case_store.add_event(
                conn,
                case_id,
                actor=by.username,
                action="called",
                at=now,
                note=request.strip(),
                detail={
                    "call_id": call_id,
                    "organisation": organisation,
                    "respond_by": respond_by.isoformat(),
                },
            )
            ids.append(call_id)
        return ids


def answer(
    conn: psycopg.Connection[Any],
    case_id: int,
    call_id: int,
    by: User,
    reply: CallAnswer,
    note: str | None,
    now: datetime,
) -> None:
    """An account of the called organisation answers; a decline needs a reason."""
    if reply is CallAnswer.DECLINE and not given(note):
        raise ActionIncomplete("decline needs a reason in note: why the organisation does not take part")
    with conn.transaction():
        found = call_store.lock_call(conn, case_id, call_id)
        if found is None:
            raise NotFound(f"no call {call_id} on case {case_id}")
        if by.organisation != found["organisation"]:
            raise ActionForbidden(f"call {call_id} is answered by an account of {found['organisation']}")
        state = answer_to(CallState(found["state"]), reply)
        text = note.strip() if note and note.strip() else None
        call_store.answer(conn, call_id, state, by.username, now, text)
        case_store.add_event(
            conn,
            case_id,
            actor=by.username,
            action="call_answered",
            at=now,
            note=text,
            detail={"call_id": call_id, "organisation": found["organisation"], "answer": reply.value},
        )


def _limit(text: str) -> Limit:
    try:
        limit = parse_limit(text)
    except ValueError as exc:
        raise ActionIncomplete(f"respond_within: {exc}") from None
    assert isinstance(limit, Limit)
    return limit
