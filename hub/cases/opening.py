"""Opening cases, inside the caller's transaction: the case row, its routing, deadlines and first moves.

Every new case is routed to a team (`routing`), gets its deadlines (`sla`, on the working calendar where
the SLA table says so, for alert-raised cases too) and starts its history with the moves `open` and
`dispatch`, so the claim queue and the escalation job see every case the same way. Where an opened
alert's case comes from (its own, a group's, a parent's) is decided in `intake`; a resident's report
about a place an alert-raised case covers goes into that case (`merging`).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import config, merging
from hub.cases.calendar import WorkCalendar
from hub.cases.config import DispatchConfig
from hub.cases.photos import Photo
from hub.cases.routing import CaseFacts, Routed, route
from hub.cases.sla import Deadlines, alert_deadlines, deadlines_for
from hub.domain.alerts import AlertOpened
from hub.domain.cases import CaseStatus, Move, Place, Step
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import case_status
from hub.store import cases as case_store
from hub.store import communities as community_store

SYSTEM = "system"


def calendar_of(conn: psycopg.Connection[Any], cfg: DispatchConfig, community: str) -> WorkCalendar:
    """The working calendar of a community's deadlines: the routing file's calendar the community names,
    else the file's own `calendar`."""
    return cfg.calendar_for(community_store.calendar_of(conn, community))


def route_alert(
    conn: psycopg.Connection[Any], cfg: DispatchConfig, a: AlertOpened, where: CaseFacts, now: datetime
) -> tuple[Routed, Deadlines]:
    """The team and deadlines of a case an alert opens about `where`: the rule's team unless a route
    says otherwise, the rule's own deadlines or the SLA table's, on the community's working calendar."""
    routed = route(cfg.routes, where, rule_team=a.rule.dispatch.team, default_team=cfg.default_team)
    due = alert_deadlines(
        cfg.sla,
        a.rule.category,
        a.rule.severity,
        now,
        (a.rule.dispatch.ack_within, a.rule.dispatch.resolve_within),
        calendar_of(conn, cfg, where.community),
    )
    return routed, due


@dataclass(frozen=True)
class NewCase:
    title: str
    category: str
    severity: str
    source: str
    subject: str
    community_id: str
    building: str | None
    grid: str | None
    device_id: str | None
    description: str | None = None
    reporter_id: int | None = None
    title_zh: str | None = None
    """a title the hub wrote (a rule's, say) in Chinese; people's own titles are not translated"""


def open_case(
    conn: psycopg.Connection[Any],
    new: NewCase,
    routed: Routed,
    due: Deadlines,
    *,
    actor: str,
    why: str,
    why_detail: Mapping[str, Any],
    at: datetime,
) -> tuple[int, bool]:
    """Insert the case and dispatch it to its team, or join the open case for the same subject and
    category (which keeps its team and only pulls its deadlines in): (case id, created). `why` says in
    English why it opened, `why_detail` the same as a code and values for readers of other languages."""
    case_id, created = case_store.insert_open_case(
        conn,
        title=new.title,
        title_zh=new.title_zh,
        category=new.category,
        severity=new.severity,
        source=new.source,
        subject=new.subject,
        community_id=new.community_id,
        building=new.building,
        grid=new.grid,
        device_id=new.device_id,
        team=routed.team,
        at=at,
        ack_due_at=due.ack_due_at,
        resolve_due_at=due.resolve_due_at,
        description=new.description,
        reporter_id=new.reporter_id,
        ack_clock=due.ack_clock,
        resolve_clock=due.resolve_clock,
    )
    if created:
        case_status.move(
            conn,
            case_id,
            Step(Move.OPEN, CaseStatus.NEW, note=why),
            current=None,
            actor=actor,
            at=at,
            detail=why_detail,
        )
        case_status.move(
            conn,
            case_id,
            Step(Move.DISPATCH, CaseStatus.DISPATCHED, note=f"team {routed.team} ({routed.reason})"),
            current=CaseStatus.NEW,
            actor=SYSTEM,
            at=at,
            detail={
                "team": routed.team,
                "routed_by": routed.reason,
                "route": routed.kind,
                "route_name": routed.name,
            },
        )
    return case_id, created


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
    source = "resident" if by.role == Role.RESIDENT else "operator"
    facts = CaseFacts(report.category, report.community, report.building, report.grid, source)
    routed = route(dispatch.routes, facts, rule_team=None, default_team=dispatch.default_team)
    due = deadlines_for(
        dispatch.sla, report.category, report.severity, now, calendar_of(conn, dispatch, report.community)
    )
    new = NewCase(
        title=report.title,
        category=report.category,
        severity=report.severity,
        source=source,
        subject=f"{source}:{uuid.uuid4().hex}",
        community_id=report.community,
        building=report.building,
        grid=report.grid,
        device_id=report.device_id,
        description=report.description,
        reporter_id=by.id,
    )
    with conn.transaction():
        case_id, _ = open_case(
            conn,
            new,
            routed,
            due,
            actor=by.username,
            why=f"{source} report",
            why_detail={"source": source},
            at=now,
        )
        if report.photo is not None:
            case_store.insert_attachment(
                conn, case_id, report.photo.content_type, report.photo.data, by.id, at=now
            )
        if source == "resident":
            place = Place(report.community, report.device_id, report.building, report.category, now)
            merging.auto_merge_report(conn, case_id, place, dispatch)
    return case_id
