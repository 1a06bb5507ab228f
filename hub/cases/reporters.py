"""A reporter's own say on their report: a comment (more detail, a changed situation) and withdrawing the
report while nobody has started on it (the move `withdraw`: fixed by itself, reported by mistake).

Both are recorded in the case's history under the reporter's name and announced like every case event.
A comment leaves the status alone; a withdrawal cancels the case with the reason "withdrawn by the
reporter", so the team's queue drops it.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import holds
from hub.cases.actions import ActionForbidden, ActionIncomplete, CaseNotFound
from hub.domain.cases import MOVES, CaseStatus, Move, Step, TransitionRefused
from hub.domain.users import User
from hub.store import case_merges, case_status
from hub.store import cases as case_store

MAX_COMMENT = 2000
WITHDRAWABLE = MOVES[Move.WITHDRAW].sources


def is_reporter(case: Mapping[str, Any], by: User) -> bool:
    """The case is the caller's report, or a report of theirs was merged into it."""
    return case["reporter_id"] == by.id or any(
        m["reporter_id"] == by.id for m in case.get("merged_cases", [])
    )


def comment(
    conn: psycopg.Connection[Any], case: Mapping[str, Any], by: User, text: str, now: datetime
) -> str:
    """Add the reporter's comment to `case` (as `get_case` returns it); returns the stripped text."""
    if not is_reporter(case, by):
        raise ActionForbidden("comments come from the person who reported the problem")
    words = text.strip()
    if not words:
        raise ActionIncomplete("the comment is empty: say what you want the team to know")
    if len(words) > MAX_COMMENT:
        raise ActionIncomplete(f"the comment is longer than {MAX_COMMENT} characters")
    if case["status"] == CaseStatus.CANCELLED:
        raise TransitionRefused(f"case {case['id']} is cancelled; comments go to the case that replaced it")
    case_store.add_event(conn, case["id"], actor=by.username, action="commented", at=now, note=words)
    return words


def withdraw(
    conn: psycopg.Connection[Any], case_id: int, by: User, reason: str | None, now: datetime
) -> None:
    """Cancel the caller's own report while it is new or dispatched (nobody has taken it up)."""
    why = reason.strip() if reason and reason.strip() else None
    with conn.transaction():
        case = case_store.lock_case_row(conn, case_id)
        if case is None:
            raise CaseNotFound(f"no case {case_id}")
        if case["reporter_id"] != by.id:
            raise ActionForbidden(f"only the person who reported case {case_id} can withdraw it")
        current = CaseStatus(case["status"])
        if current not in WITHDRAWABLE:
            raise TransitionRefused(
                f"case {case_id} is {current}: someone has already started on it, so it can no longer be "
                "withdrawn; add a comment instead"
                if current in (CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS, CaseStatus.REOPENED)
                else f"case {case_id} is {current} and can no longer be withdrawn"
            )
        if case_merges.merged_into(conn, case_id):
            raise TransitionRefused(
                f"other reports were merged into case {case_id}, so it stays open for them; add a comment"
            )
        cancel = "withdrawn by the reporter" + (f": {why}" if why else "")
        case_status.move(
            conn,
            case_id,
            Step(Move.WITHDRAW, CaseStatus.CANCELLED, note=why, cancel_reason=cancel),
            current=current,
            actor=by.username,
            at=now,
            actor_id=by.id,
        )
        holds.end_on_cancel(conn, case_id, by.username, now)
