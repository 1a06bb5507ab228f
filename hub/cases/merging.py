"""One case per problem: merging a case into another, and splitting it off again.

A merged case is cancelled with the reason "merged into #N" and a `case_merges` record (merged case →
surviving case, who, when, the status it had); the surviving case takes in its alerts. A split undoes
the record: the merged case gets back the status it had, the alerts it brought leave the surviving
case. Its reporter follows the surviving case: they see it, are told when it is resolved (a
`reporter_notified` event on it, which the notification outbox announces like every case event) and
may rate it.

The hub merges by itself (actor `system`) a resident's report and an alert-raised case about the same
place — the same device, or the same building and category — opened within `merge.window` of each other
(config/routing.yaml); the alert-raised case survives, since its sensors verify the repair. Operators
and admins merge and split by hand through the API.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.cases import holds
from hub.cases.actions import CaseNotFound
from hub.cases.config import DispatchConfig
from hub.domain.cases import OPEN_STATUSES, CaseStatus, Move, Place, Step, TransitionRefused
from hub.store import case_merges, case_status
from hub.store import cases as case_store

SYSTEM = "system"


class MergeRefused(TransitionRefused):
    """409: the merge or split is not possible in the cases' current state."""


def merge(
    conn: psycopg.Connection[Any],
    merged_id: int,
    surviving_id: int,
    *,
    by: str,
    by_id: int | None,
    now: datetime,
    note: str | None = None,
    why: Mapping[str, Any] | None = None,
) -> int:
    """Merge `merged_id` into `surviving_id`; returns the merge record's id. `note` is a person's
    words; `why` the hub's reason for a merge of its own, as a code and values (see `_why`)."""
    note = _why_text(why) if why is not None else note
    if merged_id == surviving_id:
        raise MergeRefused(f"case #{merged_id} cannot be merged into itself")
    with conn.transaction():
        locked = {cid: case_store.lock_case_row(conn, cid) for cid in sorted((merged_id, surviving_id))}
        merged, surviving = locked[merged_id], locked[surviving_id]
        for cid, row in ((merged_id, merged), (surviving_id, surviving)):
            if row is None:
                raise CaseNotFound(f"no case {cid}")
        assert merged is not None
        assert surviving is not None
        if merged["community_id"] != surviving["community_id"]:
            raise MergeRefused(f"cases #{merged_id} and #{surviving_id} are in different communities")
        for cid, row in ((merged_id, merged), (surviving_id, surviving)):
            if CaseStatus(row["status"]) not in OPEN_STATUSES:
                raise MergeRefused(f"case #{cid} is {row['status']}: only open cases are merged")
        if case_merges.merged_into(conn, merged_id):
            raise MergeRefused(
                f"other cases were merged into #{merged_id}; split them off first, or merge into #{merged_id}"
            )
        holds.end_on_cancel(conn, merged_id, by, now)
        moved = case_merges.link_missing_alerts(conn, merged_id, surviving_id)
        reason = f"merged into #{surviving_id}"
        merge_id = case_merges.insert_merge(
            conn,
            merged=merged_id,
            surviving=surviving_id,
            from_status=merged["status"],
            by=by,
            by_id=by_id,
            at=now,
            note=note,
            moved_alerts=moved,
        )
        detail = {
            "merge_id": merge_id,
            "merged_case_id": merged_id,
            "surviving_case_id": surviving_id,
            "note": None if why is not None else note,
            "why": None if why is None else dict(why),
        }
        case_status.move(
            conn,
            merged_id,
            Step(
                Move.MERGE,
                CaseStatus.CANCELLED,
                note=reason + (f": {note}" if note else ""),
                cancel_reason=reason,
            ),
            current=CaseStatus(merged["status"]),
            actor=by,
            at=now,
            detail=detail,
        )
        case_store.add_event(
            conn,
            surviving_id,
            actor=by,
            action="merge_received",
            at=now,
            note=f"case #{merged_id} ({merged['source']} report) merged in" + (f": {note}" if note else ""),
            detail=detail | {"alerts_moved": moved, "source": merged["source"]},
        )
        return merge_id


def split(
    conn: psycopg.Connection[Any], merged_id: int, *, by: str, now: datetime, note: str | None = None
) -> int:
    """Undo the merge of `merged_id`; returns the case it had been merged into."""
    with conn.transaction():
        record = case_merges.active_merge_of(conn, merged_id)
        if record is None:
            if case_store.lock_case_row(conn, merged_id) is None:
                raise CaseNotFound(f"no case {merged_id}")
            raise MergeRefused(f"case #{merged_id} is not merged into another case")
        surviving_id = int(record["surviving_case_id"])
        locked = {cid: case_store.lock_case_row(conn, cid) for cid in sorted((merged_id, surviving_id))}
        merged = locked[merged_id]
        assert merged is not None, "a merge record's case exists"
        if case_store.last_move(conn, merged_id) != "merged":
            raise MergeRefused(
                f"case #{merged_id} was {merged['status']} for another reason after its merge; it is not split"
            )
        back = CaseStatus(record["merged_from_status"])
        detail = {
            "merge_id": record["id"],
            "merged_case_id": merged_id,
            "surviving_case_id": surviving_id,
            "note": note,
        }
        try:
            case_status.move(
                conn,
                merged_id,
                Step(
                    Move.SPLIT,
                    back,
                    note=f"split off #{surviving_id}" + (f": {note}" if note else ""),
                    clear_cancel_reason=True,
                ),
                current=CaseStatus(merged["status"]),
                actor=by,
                at=now,
                detail=detail,
            )
        except case_status.SubjectTaken as exc:
            raise MergeRefused(str(exc)) from None
        case_merges.unlink_alerts(conn, surviving_id, list(record["moved_alerts"]))
        case_merges.mark_split(conn, record["id"], by, now)
        case_store.add_event(
            conn,
            surviving_id,
            actor=by,
            action="merge_undone",
            at=now,
            note=f"case #{merged_id} split off" + (f": {note}" if note else ""),
            detail=detail,
        )
        return surviving_id


def auto_merge_report(
    conn: psycopg.Connection[Any], report_id: int, place: Place, cfg: DispatchConfig
) -> int | None:
    """A resident's new report about a place an alert-raised case already covers goes into that case.
    Returns the surviving case, or None."""
    if not cfg.merge.auto:
        return None
    target = case_merges.alert_case_for_report(conn, report_id, place, timedelta(seconds=cfg.merge.window))
    if target is None:
        return None
    merge(conn, report_id, target, by=SYSTEM, by_id=None, now=place.at, why=_why(place))
    return target


def auto_merge_into_alert_case(
    conn: psycopg.Connection[Any], alert_case_id: int, place: Place, cfg: DispatchConfig
) -> list[int]:
    """Residents' open reports about the place of a new alert-raised case go into it."""
    if not cfg.merge.auto:
        return []
    window = timedelta(seconds=cfg.merge.window)
    done = []
    for report_id in case_merges.reports_for_alert_case(conn, alert_case_id, place, window):
        if case_merges.split_before(conn, report_id, alert_case_id):
            continue
        merge(conn, report_id, alert_case_id, by=SYSTEM, by_id=None, now=place.at, why=_why(place))
        done.append(report_id)
    return done


def _why(place: Place) -> dict[str, Any]:
    if place.device_id:
        return {"code": "same_device", "device_id": place.device_id}
    return {"code": "same_place", "building": place.building, "category": place.category}


def _why_text(why: Mapping[str, Any]) -> str:
    if why["code"] == "same_device":
        return f"same device {why['device_id']}"
    return f"same building {why['building']} and category {why['category']}"


def notify_reporters(conn: psycopg.Connection[Any], surviving_id: int, now: datetime) -> list[int]:
    """The case was resolved: tell each resident whose report was merged into it, and ask them to rate
    it. Returns the residents told."""
    told: list[int] = []
    for m in case_merges.merged_into(conn, surviving_id):
        resident = m["reporter_id"]
        if resident is None or m["source"] != "resident" or resident in told:
            continue
        told.append(resident)
        case_store.add_event(
            conn,
            surviving_id,
            actor=SYSTEM,
            action="reporter_notified",
            at=now,
            note=f"the resident who reported case #{m['merged_case_id']} was told it is resolved here and "
            f"asked to rate case #{surviving_id}",
            detail={
                "resident_id": resident,
                "merged_case_id": m["merged_case_id"],
                "rate": f"/api/v1/cases/{surviving_id}/rating",
            },
        )
    return told
