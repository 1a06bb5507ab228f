"""One case taken into another by the hub: the move `fold`, shared by a parent's outage (`topology`) and
a storm or communication outage (`storms`)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from hub.cases.opening import SYSTEM
from hub.domain.cases import CaseStatus, Move, Step
from hub.store import case_merges, case_status
from hub.store import cases as case_store


def fold(
    conn: psycopg.Connection[Any],
    case: Mapping[str, Any],
    into: int,
    *,
    why: str,
    taken_in: str,
    detail: Mapping[str, Any],
    at: datetime,
    taken_in_detail: Mapping[str, Any] | None = None,
) -> None:
    """`case` (id, status, device_id; locked, nobody working on it) ends as part of case `into`: reports
    merged into it follow, and `into`'s history names it. `why` ends the folded case and `taken_in` is
    the line in `into`, both in English; `detail` is what both events carry as codes for other readers."""
    case_status.move(
        conn,
        case["id"],
        Step(Move.FOLD, CaseStatus.CANCELLED, note=why, cancel_reason=why),
        current=CaseStatus(case["status"]),
        actor=SYSTEM,
        at=at,
        detail={"into": into, **detail},
    )
    case_merges.repoint(conn, case["id"], into)
    case_store.add_event(
        conn,
        into,
        actor=SYSTEM,
        action="case_absorbed",
        at=at,
        note=taken_in,
        detail={"case_id": case["id"], "device_id": case["device_id"], **detail, **(taken_in_detail or {})},
    )
