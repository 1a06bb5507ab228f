"""The SLA escalation job: every breached deadline moves its case one level along team → supervisor →
street office, once, and every street-office call unanswered past its deadline is escalated, once. All it needs is in the cases table, so a restart loses no timer. Deadlines are
stored already computed on the working calendar (and moved by resumptions and extensions), and a
suspended case is skipped, so this job only compares stored times with the clock."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from hub.cases.sla import SlaState, next_escalation
from hub.domain.cases import CaseStatus, Escalation, Level
from hub.store import case_calls as call_store
from hub.store import cases as case_store

log = logging.getLogger(__name__)

ESCALATION_LOCK = 0x5C_4855_4401
_BATCH = 500


@dataclass(frozen=True)
class Escalated:
    case_id: int
    escalation: Escalation


def escalate_breached(conn: psycopg.Connection[Any], now: datetime) -> list[Escalated] | None:
    """One pass over the breached cases; with several hub workers only the one holding the lock runs
    (None on the others)."""
    done: list[Escalated] = []
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ESCALATION_LOCK,)).fetchone()
        if not got or not got[0]:
            return None
        for row in case_store.escalation_candidates(conn, now, _BATCH):
            e = next_escalation(_state(row), now)
            if e is None or not case_store.record_escalation(conn, row["id"], e, now):
                continue
            office = row["street_office"] if e.level is Level.STREET_OFFICE else None
            case_store.add_event(
                conn,
                row["id"],
                actor="system",
                action="escalated",
                at=now,
                note=e.describe() + (f" {office}" if office else ""),
                detail={
                    "level": e.level.label,
                    "deadline": e.deadline,
                    "due_at": e.due_at.isoformat(),
                    "team": row["team"],
                    "street_office": row["street_office"],
                },
            )
            done.append(Escalated(row["id"], e))
    return done


def escalate_unanswered_calls(conn: psycopg.Connection[Any], now: datetime) -> int:
    """A street-office call nobody answered by its deadline is escalated once: an event on its case,
    notified like every case event, naming the organisation and the deadline it missed."""
    with conn.transaction():
        calls = call_store.claim_unanswered(conn, now, _BATCH)
        for c in calls:
            case_store.add_event(
                conn,
                c["case_id"],
                actor="system",
                action="call_escalated",
                at=now,
                note=f"{c['organisation']} did not answer the call due {c['respond_by'].isoformat()}",
                detail={
                    "call_id": c["id"],
                    "organisation": c["organisation"],
                    "respond_by": c["respond_by"].isoformat(),
                },
            )
    return len(calls)


def run(pool: ConnectionPool) -> dict[str, int] | None:
    """What the run did, or None when another worker holds the job."""
    now = datetime.now(UTC)
    with pool.connection() as conn:
        escalated = escalate_breached(conn, now)
        calls = 0 if escalated is None else escalate_unanswered_calls(conn, now)
    if escalated:
        log.info("escalated %d case(s) past their deadline", len(escalated))
    if calls:
        log.info("escalated %d unanswered street-office call(s)", calls)
    return None if escalated is None else {"escalated": len(escalated), "calls_escalated": calls}


def _state(row: dict[str, Any]) -> SlaState:
    return SlaState(
        status=CaseStatus(row["status"]),
        level=Level(row["escalation_level"]),
        ack_due_at=row["ack_due_at"],
        resolve_due_at=row["resolve_due_at"],
        acknowledged_at=row["acknowledged_at"],
        ack_escalated_at=row["ack_escalated_at"],
        resolve_escalated_at=row["resolve_escalated_at"],
        suspended=row["suspended_at"] is not None,
    )
