"""Residents' ratings of finished work: who may rate which case, and when."""

from datetime import datetime
from typing import Any

import psycopg

from hub.cases.actions import ActionForbidden
from hub.cases.reporters import is_reporter
from hub.domain.cases import CaseStatus
from hub.domain.errors import Conflict
from hub.domain.users import User
from hub.store import cases as case_store

RATEABLE = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})


class RatingRefused(Conflict):
    pass


def check_may_rate(case: dict[str, Any], by: User) -> None:
    """The reporter rates their own report — and the case it was merged into; for an alert-raised
    case, every resident of its community lived with the problem, so each of them may rate it once."""
    if by.role != "resident":
        raise ActionForbidden("ratings come from residents")
    own = is_reporter(case, by)
    neighbour = case["source"] == "alert" and case["community_id"] in by.communities
    if not (own or neighbour):
        raise ActionForbidden(
            "residents rate their own reports and the alert-raised cases of their communities"
        )
    if case["status"] not in RATEABLE:
        raise RatingRefused(
            f"a {case['status']} case cannot be rated yet; rate it once it is resolved or closed"
        )


def rate(
    conn: psycopg.Connection[Any],
    case: dict[str, Any],
    by: User,
    stars: int,
    comment: str | None,
    now: datetime,
) -> None:
    check_may_rate(case, by)
    with conn.transaction():
        if not case_store.insert_rating(conn, case["id"], by.id, stars, comment, now):
            raise RatingRefused(f"you have already rated case {case['id']}")
        case_store.add_event(
            conn,
            case["id"],
            actor=by.username,
            action="rated",
            at=now,
            note=f"{stars}/5" + (f": {comment}" if comment else ""),
            detail={"stars": stars, "comment": comment},
        )
