"""Opening cases, inside the caller's transaction: from alerts (ingest) and from people (the API).

Every new case is routed to a team (`routing`), gets its deadlines (`sla`, on the working calendar where
the SLA table says so, for alert-raised cases too) and starts its history with `opened → dispatched`, so the claim queue and the
escalation job see every case the same way. A resident's report and an alert-raised case about the same
place and time become one case (`merging`). A device's outage alert locks the device and takes in the
cases its children opened moments before (`topology`).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import config, merging, topology
from hub.cases.config import DispatchConfig
from hub.cases.lifecycle import CaseStatus
from hub.cases.photos import Photo
from hub.cases.routing import CaseFacts, route
from hub.cases.sla import alert_deadlines, deadlines_for
from hub.engine.evaluator import AlertCleared, AlertOpened
from hub.settings import get_settings
from hub.store import alerts as alert_store
from hub.store import cases as case_store
from hub.store.users import User

SYSTEM = "system"


def on_alert_opened(
    conn: psycopg.Connection[Any], a: AlertOpened, dispatch: DispatchConfig | None = None
) -> int | None:
    """Record the alert and open (or join) its case; returns the case id, None if already open.

    `dispatch` defaults to the configuration file named by the settings (HUB_ROUTING_FILE).
    """
    cfg = dispatch or config.current(get_settings().routing_file)
    outage = topology.lock_outage(conn, a, cfg)
    alert_id = alert_store.open_alert(conn, a)
    if alert_id is None:
        return None
    facts = CaseFacts(a.rule.category, a.device.community, a.device.building, a.device.grid, "alert")
    routed = route(cfg.routes, facts, rule_team=a.rule.dispatch.team, default_team=cfg.default_team)
    due = alert_deadlines(
        cfg.sla,
        a.rule.category,
        a.rule.severity,
        a.opened_at,
        (a.rule.dispatch.ack_within, a.rule.dispatch.resolve_within),
        cfg.calendar,
    )
    case_id, created = case_store.insert_open_case(
        conn,
        title=a.rule.title,
        category=a.rule.category,
        severity=a.rule.severity,
        status=CaseStatus.DISPATCHED,
        source="alert",
        subject=a.subject,
        community_id=a.device.community,
        building=a.device.building,
        grid=a.device.grid,
        device_id=a.device.id,
        team=routed.team,
        at=a.opened_at,
        ack_due_at=due.ack_due_at,
        resolve_due_at=due.resolve_due_at,
        ack_clock=due.ack_clock,
        resolve_clock=due.resolve_clock,
    )
    case_store.link_alert(conn, case_id, alert_id)
    if created:
        record_opening(
            conn,
            case_id,
            SYSTEM,
            a.opened_at,
            f"alert {a.rule.id} on {a.subject}",
            routed.team,
            routed.reason,
        )
        merging.auto_merge_into_alert_case(
            conn,
            case_id,
            community=a.device.community,
            device_id=a.device.id if a.subject == a.device.id else None,
            building=a.device.building,
            category=a.rule.category,
            at=a.opened_at,
            cfg=cfg,
        )
    else:
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_joined",
            at=a.opened_at,
            note=f"alert {a.rule.id} on {a.subject}",
        )
    if outage:
        topology.fold_children(conn, a.device.id, case_id, a.opened_at, cfg, a.opened_at)
    return case_id


def on_alert_cleared(conn: psycopg.Connection[Any], c: AlertCleared) -> None:
    alert_id = alert_store.clear_alert(conn, c.rule.id, c.subject, c.cleared_at, c.reason)
    if alert_id is None:
        return
    for case_id in case_store.cases_of_alert(conn, alert_id):
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alert_cleared",
            at=c.cleared_at,
            note=f"alert {c.rule.id} on {c.subject} cleared: {c.reason}",
        )


@dataclass(frozen=True)
class Report:
    """A case raised by a person: a resident's report or an operator's own case."""

    community: str
    category: config.ReportCategory
    title: str
    description: str
    building: str | None
    grid: str | None
    device_id: str | None
    severity: str
    photo: Photo | None = None


def open_report(
    conn: psycopg.Connection[Any], report: Report, by: User, dispatch: DispatchConfig, now: datetime
) -> int:
    """Open the case with its photo in one transaction. Two reports never merge (two residents
    describing the same lamp are two people to answer, so each report gets a subject of its own), but a
    resident's report about a place an alert-raised case covers goes into that case (`merging`)."""
    source = "resident" if by.role == "resident" else "operator"
    facts = CaseFacts(report.category, report.community, report.building, report.grid, source)
    routed = route(dispatch.routes, facts, rule_team=None, default_team=dispatch.default_team)
    due = deadlines_for(dispatch.sla, report.category, report.severity, now, dispatch.calendar)
    with conn.transaction():
        case_id, _ = case_store.insert_open_case(
            conn,
            title=report.title,
            category=report.category,
            severity=report.severity,
            status=CaseStatus.DISPATCHED,
            source=source,
            subject=f"{source}:{uuid.uuid4().hex}",
            community_id=report.community,
            building=report.building,
            grid=report.grid,
            device_id=report.device_id,
            team=routed.team,
            at=now,
            ack_due_at=due.ack_due_at,
            resolve_due_at=due.resolve_due_at,
            description=report.description,
            reporter_id=by.id,
            ack_clock=due.ack_clock,
            resolve_clock=due.resolve_clock,
        )
        if report.photo is not None:
            case_store.insert_attachment(
                conn, case_id, report.photo.content_type, report.photo.data, by.id, at=now
            )
        record_opening(conn, case_id, by.username, now, f"{source} report", routed.team, routed.reason)
        if source == "resident":
            merging.auto_merge_report(
                conn,
                case_id,
                community=report.community,
                device_id=report.device_id,
                building=report.building,
                category=report.category,
                at=now,
                cfg=dispatch,
            )
    return case_id


def record_opening(
    conn: psycopg.Connection[Any], case_id: int, actor: str, at: datetime, why: str, team: str, routed_by: str
) -> None:
    case_store.add_event(
        conn, case_id, actor=actor, action="opened", at=at, to_status=CaseStatus.NEW, note=why
    )
    case_store.add_event(
        conn,
        case_id,
        actor=SYSTEM,
        action="dispatched",
        at=at,
        from_status=CaseStatus.NEW,
        to_status=CaseStatus.DISPATCHED,
        note=f"team {team} ({routed_by})",
        detail={"team": team, "routed_by": routed_by},
    )
