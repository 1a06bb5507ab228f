"""Devices behind a down parent: their alerts are recorded, but go into the parent's case.

A device may hang under a parent (`devices.parent_id`: a gateway, a lamp feeder cabinet). A parent is
down while it is offline (its Last Will, an offline status, or the offline job) or has an open
device-level alert of one of `topology.down_categories` (config/routing.yaml; device_health and
infrastructure by default). An alert of a child — or grandchild — of a down parent, of one of
`topology.suppress_categories` (device_health, infrastructure and lighting by default; life-safety
categories are never suppressed unless listed), opens no case of its own: it is linked to the parent's
case (`case_alerts`), marked `suppressed_by` the parent, and noted in the parent case's history. The
parent's case is the open case of its down alert; when the parent is only offline, it is the open
`device_health` case of the parent (subject = the parent's id), opened here if needed — the parent's own
alert joins it later, as alerts on one subject and category always do. So a gateway outage makes one
case, not one per device behind it.

A child's alert and its parent's outage often arrive within moments of each other, in transactions
that run side by side. Both lock the parent (`topology_store.lock_devices`, an advisory lock per device),
so a child's alert waits for an outage being written and then sees it. A child's alert that got in just
before its parent went down opened a case of its own; when the parent's case takes in an alert or the
parent's own outage alert opens, such cases — opened at most `topology.fold_within` before the parent
went down and not yet taken up by anyone — are folded into the parent's case (`fold_children`).
"""

from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.cases import folding
from hub.cases.config import DispatchConfig
from hub.cases.opening import SYSTEM, NewCase, calendar_of, open_case
from hub.cases.routing import CaseFacts, route
from hub.cases.sla import deadlines_for
from hub.domain.alerts import AlertOpened
from hub.store import alerts as alert_store
from hub.store import cases as case_store
from hub.store import topology as topology_store

PARENT_CATEGORY = "device_health"


def suppress_into_parent(
    conn: psycopg.Connection[Any], a: AlertOpened, cfg: DispatchConfig, now: datetime
) -> int | None:
    """Returns the parent's case the alert went into, or None when no ancestor is down (or the alert
    is not a device's own, or of a category that is never suppressed)."""
    if a.subject != a.device.id or a.rule.category not in cfg.topology.suppress_categories:
        return None
    ancestors = topology_store.ancestors(conn, a.device.id)
    if not ancestors:
        return None
    topology_store.lock_devices(conn, [a.device.id, *(p["id"] for p in ancestors)])
    for parent in topology_store.ancestors(conn, a.device.id):
        down = topology_store.down_alert_case(conn, parent["id"], cfg.topology.down_categories)
        if down is None and parent["online"]:
            continue
        why = (
            f"parent {parent['id']} has open alert {down[1]}"
            if down is not None
            else f"parent {parent['id']} is offline"
        )
        down_because = (
            {"parent": parent["id"], "down": "alert", "rule_id": down[1]}
            if down is not None
            else {"parent": parent["id"], "down": "offline"}
        )
        alert_id = alert_store.open_alert(conn, a, now)
        if alert_id is None:
            return None
        case_id = (
            down[2]
            if down is not None and down[2] is not None
            else _parent_case(conn, parent, a, cfg, why, down_because, now)
        )
        case_store.link_alert(conn, case_id, alert_id)
        topology_store.mark_suppressed(conn, alert_id, parent["id"])
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_suppressed",
            at=now,
            note=f"alert {a.rule.id} on {a.subject} taken in: {why}",
            detail={"alert_id": alert_id, "rule_id": a.rule.id, "device_id": a.device.id, **down_because},
        )
        down_since = down[3] if down is not None else parent["online_changed_at"] or now
        fold_children(conn, parent["id"], case_id, down_since, cfg, now)
        return case_id
    return None


def lock_outage(conn: psycopg.Connection[Any], a: AlertOpened, cfg: DispatchConfig) -> bool:
    """Before an alert that puts its device down (a device-level alert of `down_categories`) is
    written: lock the device, so its children's alerts wait for it. True for such an alert."""
    if a.subject != a.device.id or a.rule.category not in cfg.topology.down_categories:
        return False
    topology_store.lock_devices(conn, [a.device.id])
    return True


def fold_children(
    conn: psycopg.Connection[Any],
    parent_id: str,
    case_id: int,
    down_since: datetime,
    cfg: DispatchConfig,
    at: datetime,
) -> list[int]:
    """Fold the cases the parent's descendants opened just before it went down into its case `case_id`:
    their alerts move over as suppressed by the parent, they are absorbed (the move `fold`), and
    reports merged into them follow. Returns the folded cases."""
    folded = topology_store.foldable_cases(
        conn,
        parent_id,
        case_id,
        categories=cfg.topology.suppress_categories,
        since=down_since - timedelta(seconds=cfg.topology.fold_within),
    )
    for case in folded:
        alerts = topology_store.move_suppressed_alerts(conn, case["id"], case_id, parent_id)
        folding.fold(
            conn,
            case,
            case_id,
            why=f"absorbed into case #{case_id}: parent {parent_id} is down",
            taken_in=f"case #{case['id']} of {case['device_id'] or 'a storm'} taken in: parent {parent_id} is down",
            detail={"parent": parent_id},
            taken_in_detail={"alert_ids": alerts},
            at=at,
        )
    return [int(c["id"]) for c in folded]


def _parent_case(
    conn: psycopg.Connection[Any],
    parent: dict[str, Any],
    a: AlertOpened,
    cfg: DispatchConfig,
    why: str,
    down_because: dict[str, Any],
    now: datetime,
) -> int:
    facts = CaseFacts(PARENT_CATEGORY, parent["community_id"], parent["building"], parent["grid"], "alert")
    routed = route(cfg.routes, facts, rule_team=cfg.topology.team, default_team=cfg.default_team)
    calendar = calendar_of(conn, cfg, parent["community_id"])
    due = deadlines_for(cfg.sla, PARENT_CATEGORY, a.rule.severity, now, calendar)
    new = NewCase(
        title=f"{parent['id']} is down: devices behind it alert",
        title_zh=f"{parent['id']} 故障：其下设备告警",
        category=PARENT_CATEGORY,
        severity=a.rule.severity,
        source="alert",
        subject=parent["id"],
        community_id=parent["community_id"],
        building=parent["building"],
        grid=parent["grid"],
        device_id=parent["id"],
    )
    case_id, _ = open_case(conn, new, routed, due, actor=SYSTEM, why=why, why_detail=down_because, at=now)
    return case_id
