"""SLA escalation with an injected clock. A "restart" is simply the job called again: it keeps no state
of its own, so what it decides comes from the stored deadlines alone."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.cases import acting, opening
from hub.cases.actions import Action, ActionRequest
from hub.cases.config import DispatchConfig
from hub.cases.sla import SlaRule
from hub.domain.roles import Role
from hub.domain.users import User
from hub.jobs.escalation import ESCALATION_LOCK, escalate_breached
from hub.store import devices as device_store

# Far in the past, so the other tests' cases (deadlines around the real now) are never due here.
T0 = datetime(2021, 6, 1, 9, 0, tzinfo=UTC)
DISPATCH = DispatchConfig(default_team="esc-team", sla=[SlaRule(ack_within=60, resolve_within=600)])


def world(conn: psycopg.Connection[Any]) -> tuple[str, User]:
    where = f"esc-{uuid.uuid4().hex[:8]}"
    device_store.ensure_community(conn, where)
    conn.execute("UPDATE communities SET street_office = 'riverside' WHERE id = %s", (where,))
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, 'no log-in', 'operator') RETURNING id",
        (f"{where}-op",),
    ).fetchone()
    assert row is not None
    return where, User(int(row[0]), f"{where}-op", Role.OPERATOR, ())


def new_case(conn: psycopg.Connection[Any], where: str, by: User) -> int:
    report = opening.Report(where, "other", "broken bench", "text", "b1", None, None, "minor")
    return opening.open_report(conn, report, by, DISPATCH, T0)


def escalations(conn: psycopg.Connection[Any], case_id: int) -> list[tuple[str, str, str]]:
    return [
        (d["level"], d["deadline"], d["due_at"])
        for (d,) in conn.execute(
            "SELECT detail FROM case_events WHERE case_id = %s AND action = 'escalated' ORDER BY id",
            (case_id,),
        )
    ]


def run(conn: psycopg.Connection[Any], at: datetime, mine: set[int]) -> list[tuple[int, str, str]]:
    return [
        (e.case_id, e.escalation.level.label, e.escalation.deadline)
        for e in escalate_breached(conn, at) or []
        if e.case_id in mine
    ]


def test_each_missed_deadline_escalates_one_level_once_across_restarts(conn: psycopg.Connection[Any]) -> None:
    where, op = world(conn)
    ignored, acked_in_time, resolved_in_time = (new_case(conn, where, op) for _ in range(3))
    mine = {ignored, acked_in_time, resolved_in_time}
    ack = ActionRequest(Action.ACKNOWLEDGE)
    acting.act(conn, acked_in_time, op, ack, T0 + timedelta(seconds=30), DISPATCH)
    acting.act(conn, resolved_in_time, op, ack, T0 + timedelta(seconds=30), DISPATCH)
    acting.act(conn, resolved_in_time, op, ActionRequest(Action.START), T0 + timedelta(seconds=40), DISPATCH)
    acting.act(
        conn,
        resolved_in_time,
        op,
        ActionRequest(Action.RESOLVE, note="fixed"),
        T0 + timedelta(minutes=5),
        DISPATCH,
    )

    assert run(conn, T0 + timedelta(seconds=59), mine) == [], "nothing is due yet"
    assert run(conn, T0 + timedelta(minutes=2), mine) == [(ignored, "supervisor", "ack")]
    assert run(conn, T0 + timedelta(minutes=2), mine) == [], "a restarted job does not repeat a level"
    assert run(conn, T0 + timedelta(minutes=11), mine) == [
        (ignored, "street_office", "resolve"),
        (acked_in_time, "supervisor", "resolve"),
    ]
    assert run(conn, T0 + timedelta(minutes=11), mine) == []
    assert run(conn, T0 + timedelta(days=30), mine) == []

    ack_due, resolve_due = (T0 + timedelta(seconds=s) for s in (60, 600))
    assert escalations(conn, ignored) == [
        ("supervisor", "ack", ack_due.isoformat()),
        ("street_office", "resolve", resolve_due.isoformat()),
    ]
    assert escalations(conn, acked_in_time) == [("supervisor", "resolve", resolve_due.isoformat())]
    assert escalations(conn, resolved_in_time) == []
    level, office_note = conn.execute(
        "SELECT c.escalation_level, e.note FROM cases c JOIN case_events e ON e.case_id = c.id "
        "WHERE c.id = %s AND e.action = 'escalated' ORDER BY e.id DESC LIMIT 1",
        (ignored,),
    ).fetchone() or (None, None)
    assert level == 2
    assert (
        office_note == f"resolution was due {resolve_due.isoformat()}; escalated to street office riverside"
    )


def test_both_deadlines_missed_while_the_hub_was_down_take_two_runs(conn: psycopg.Connection[Any]) -> None:
    where, op = world(conn)
    case_id = new_case(conn, where, op)
    later = T0 + timedelta(hours=5)
    assert run(conn, later, {case_id}) == [(case_id, "supervisor", "ack")]
    assert run(conn, later, {case_id}) == [(case_id, "street_office", "resolve")]
    assert run(conn, later, {case_id}) == []


def test_only_the_worker_holding_the_lock_runs(conn: psycopg.Connection[Any], database_url: str) -> None:
    where, op = world(conn)
    case_id = new_case(conn, where, op)
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (ESCALATION_LOCK,))
        assert escalate_breached(conn, T0 + timedelta(hours=1)) is None
    assert run(conn, T0 + timedelta(hours=1), {case_id}) == [(case_id, "supervisor", "ack")]
