"""Where an opened alert goes: nowhere while silenced, into its group's case when correlated, into its
parent's case when a device it hangs under is down (`topology`), into an outage or storm case when many
devices of its place alert together (`storms`), else to a case of its own (`opening`).
An absence rule firing first freezes the device's other alerts (no data). A cleared alert is noted in
the cases it is linked to.

A device's outage alert locks the device and takes in the cases its children opened moments before
(`topology`); a new alert-raised case takes in residents' reports about the same place (`merging`).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import data_gaps, merging, storms, topology
from hub.cases.config import DispatchConfig
from hub.cases.opening import SYSTEM, NewCase, open_case, route_alert
from hub.cases.routing import CaseFacts
from hub.domain.alerts import AlertCleared, AlertOpened, Transition
from hub.domain.cases import OPEN_STATUSES, CaseStatus, Move, Place, Step
from hub.store import alerts as alert_store
from hub.store import case_groups, case_merges, case_status, silences
from hub.store import cases as case_store


def apply(
    conn: psycopg.Connection[Any], transitions: Iterable[Transition], dispatch: DispatchConfig, now: datetime
) -> None:
    """What the rules decided, in the caller's transaction: opened alerts land in cases, cleared ones
    are noted in theirs. `now` is the hub's clock: alerts keep the device's times as evidence, while
    cases, their deadlines and their history run on the hub's (a device's clock may be fast, or its
    reading late)."""
    batch = list(transitions)
    arriving = storms.Arriving(batch, dispatch)
    for t in batch:
        if isinstance(t, AlertOpened):
            alert_opened(conn, t, dispatch, now, arriving)
        else:
            alert_cleared(conn, t, now)


def alert_opened(
    conn: psycopg.Connection[Any],
    a: AlertOpened,
    dispatch: DispatchConfig,
    now: datetime,
    arriving: storms.Arriving | None = None,
) -> int | None:
    """Returns the case the alert landed in, or None (silenced, or already open). A silence is an
    operator's 'not now', so it is matched against the hub's clock, not the device's."""
    data_gaps.absence_fired(conn, a, now)
    silence = silences.matching(
        conn,
        rule_id=a.rule.id,
        device_id=a.device.id,
        community_id=a.device.community,
        building=a.device.building,
        at=now,
    )
    if silence is not None:
        alert_store.open_alert(conn, a, now, silence_id=silence)
        return None
    if a.absorbed_into is not None:
        group_alert = case_groups.open_alert_id(conn, *a.absorbed_into)
        group_case = case_groups.open_case_of_alert(conn, group_alert) if group_alert is not None else None
        if group_case is not None:
            alert_id = alert_store.open_alert(conn, a, now)
            if alert_id is not None:
                absorb(conn, group_case, alert_id, now)
            return group_case
    parent_case = topology.suppress_into_parent(conn, a, dispatch, now)
    if parent_case is not None:
        return parent_case
    storm_case = storms.fold_into_storm(conn, a, dispatch, now, arriving)
    if storm_case is not None:
        return storm_case
    case_id = open_alert_case(conn, a, dispatch, now)
    if case_id is not None:
        for rule_id, subject in a.absorbs:
            member = case_groups.open_alert_id(conn, rule_id, subject)
            if member is not None:
                absorb(conn, case_id, member, now)
    return case_id


def open_alert_case(
    conn: psycopg.Connection[Any], a: AlertOpened, cfg: DispatchConfig, now: datetime
) -> int | None:
    """Record the alert and open (or join) its own case at `now`; returns the case id, None if the
    alert is already open."""
    outage = topology.lock_outage(conn, a, cfg)
    alert_id = alert_store.open_alert(conn, a, now)
    if alert_id is None:
        return None
    facts = CaseFacts(a.rule.category, a.device.community, a.device.building, a.device.grid, "alert")
    routed, due = route_alert(conn, cfg, a, facts, now)
    new = NewCase(
        title=a.rule.title,
        category=a.rule.category,
        severity=a.rule.severity,
        source="alert",
        subject=a.subject,
        community_id=a.device.community,
        building=a.device.building,
        grid=a.device.grid,
        device_id=a.device.id,
        title_zh=a.rule.title_zh,
    )
    why = f"alert {a.rule.id} on {a.subject}"
    about = {"alert_id": alert_id, "rule_id": a.rule.id, "subject": a.subject, "device_id": a.device.id}
    case_id, created = open_case(conn, new, routed, due, actor=SYSTEM, why=why, why_detail=about, at=now)
    case_store.link_alert(conn, case_id, alert_id)
    if created:
        device_id = a.device.id if a.subject == a.device.id else None
        place = Place(a.device.community, device_id, a.device.building, a.rule.category, now)
        merging.auto_merge_into_alert_case(conn, case_id, place, cfg)
    else:
        case_store.add_event(
            conn, case_id, actor=SYSTEM, action="alert_joined", at=now, note=why, detail=about
        )
    if outage:
        topology.fold_children(conn, a.device.id, case_id, now, cfg, now)
    return case_id


def absorb(conn: psycopg.Connection[Any], group_case: int, alert_id: int, at: datetime) -> None:
    """A correlated member alert joins the group's case; the member's own open case, if any, is
    absorbed into it (the move `absorb`), and residents' reports merged into that case follow."""
    own = case_groups.open_case_of_alert(conn, alert_id)
    case_store.link_alert(conn, group_case, alert_id)
    case_store.add_event(
        conn,
        group_case,
        actor=SYSTEM,
        action="alert_joined",
        at=at,
        note=f"correlated alert {alert_id}",
        detail={"alert_id": alert_id, "correlated": True},
    )
    if own is None or own == group_case:
        return
    locked = case_store.lock_case(conn, own)
    if locked is None:
        return
    current = CaseStatus(locked[0])
    if current not in OPEN_STATUSES:
        return
    why = f"absorbed into case #{group_case}"
    case_status.move(
        conn,
        own,
        Step(Move.ABSORB, CaseStatus.CANCELLED, note=why, cancel_reason=why),
        current=current,
        actor=SYSTEM,
        at=at,
        detail={"into": group_case},
    )
    case_merges.repoint(conn, own, group_case)


def alert_cleared(conn: psycopg.Connection[Any], c: AlertCleared, now: datetime) -> None:
    alert_id = alert_store.clear_alert(conn, c.rule.id, c.subject, c.cleared_at, c.reason, c.facts)
    if alert_id is None:
        return
    detail = {
        "alert_id": alert_id,
        "rule_id": c.rule.id,
        "subject": c.subject,
        "cleared_at": c.cleared_at.isoformat(),
        "why": dict(c.facts),
    }
    in_storms = storms.member_cleared(conn, alert_id, now)
    for case_id in case_store.cases_of_alert(conn, alert_id):
        if case_id in in_storms:
            continue
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_cleared",
            at=now,
            note=f"alert {c.rule.id} on {c.subject} cleared: {c.reason}",
            detail=detail,
        )
