"""Working-calendar deadlines, suspensions and extensions against the real database, with an injected
clock: a holiday does not count against a working-day limit, a suspended case does not escalate and
gets its time back when it resumes, and suspensions and extensions need a second person."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from hub.cases import acting, holds, opening
from hub.cases.actions import Action, ActionForbidden, ActionIncomplete, ActionRequest, HoldAction
from hub.cases.calendar import Limit, WorkCalendar
from hub.cases.config import DispatchConfig
from hub.cases.sla import SlaRule
from hub.domain.cases import CaseStatus, TransitionRefused
from hub.domain.roles import Role
from hub.domain.users import User
from hub.jobs.escalation import escalate_breached
from hub.store import cases as case_store
from tests.support.factories import act, community

SH = ZoneInfo("Asia/Shanghai")
# 2021, far in the past so the other tests' cases are never due here. National Day 2021: Friday 1 to
# Thursday 7 October off (2-3 a weekend), Sunday 26 September and Saturday 9 October worked instead.
CAL = WorkCalendar(
    holidays=[date(2021, 10, d) for d in (1, 4, 5, 6, 7)],
    makeup_workdays=[date(2021, 9, 26), date(2021, 10, 9)],
)
WORKING = DispatchConfig(
    default_team="hold-team",
    calendar=CAL,
    sla=[SlaRule.model_validate({"ack_within": "2wh", "resolve_within": "2wd"})],
)
PLAIN = DispatchConfig(default_team="hold-team", sla=[SlaRule(ack_within=60, resolve_within=600)])


def sh(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2021, month, day, hour, minute, second, tzinfo=SH)


def world(conn: psycopg.Connection[Any]) -> tuple[str, dict[str, User]]:
    where = community(conn, "hold")
    people = {}
    for role, name in (("operator", "op"), ("operator", "op2"), ("admin", "boss"), ("manager", "mgr")):
        row = conn.execute(
            "INSERT INTO users (username, password_hash, role, communities) VALUES (%s, 'no log-in', %s, %s) "
            "RETURNING id",
            (f"{where}-{name}", role, [where]),
        ).fetchone()
        assert row is not None
        people[name] = User(int(row[0]), f"{where}-{name}", Role(role), (where,))
    return where, people


def report(conn: psycopg.Connection[Any], where: str, by: User, at: datetime, cfg: DispatchConfig) -> int:
    r = opening.Report(where, "other", "broken bench", "text", "b1", None, None, "minor")
    return opening.open_report(conn, r, by, cfg, at)


def case(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any]:
    found = case_store.get_case(conn, case_id)
    assert found is not None
    return found


def escalated(conn: psycopg.Connection[Any], at: datetime, mine: int) -> list[tuple[str, str]]:
    return [
        (e.escalation.deadline, e.escalation.level.label)
        for e in escalate_breached(conn, at) or []
        if e.case_id == mine
    ]


def test_a_holiday_does_not_count_against_a_working_day_limit(conn: psycopg.Connection[Any]) -> None:
    where, p = world(conn)
    opened = sh(9, 29, 10)  # Wednesday before the holidays
    case_id = report(conn, where, p["op"], opened, WORKING)
    c = case(conn, case_id)
    # 2 working hours: Wednesday 10:00-12:00. 2 working days (18 h): Wednesday 10:00-18:00, Thursday 30
    # September, then the holidays (1, 4-7 October) and the weekend, then Friday 8 October 09:00-10:00.
    assert (c["ack_due_at"], c["resolve_due_at"]) == (sh(9, 29, 12), sh(10, 8, 10))
    assert (c["ack_clock"], c["resolve_clock"]) == ("working", "working")
    act(conn, case_id, p["op"], sh(9, 29, 11), Action.ACKNOWLEDGE, WORKING)
    assert escalated(conn, sh(10, 1, 11), case_id) == [], "two calendar days later is not two working days"
    assert escalated(conn, sh(10, 8, 9, 59), case_id) == [], "the holidays do not count"
    assert escalated(conn, sh(10, 8, 10, 0, 1), case_id) == [("resolve", "supervisor")]


def test_a_suspended_case_does_not_escalate_and_gets_its_time_back(conn: psycopg.Connection[Any]) -> None:
    where, p = world(conn)
    t0 = datetime(2021, 6, 1, 9, 0, tzinfo=UTC)
    case_id = report(conn, where, p["op"], t0, PLAIN)
    act(
        conn,
        case_id,
        p["op"],
        t0 + timedelta(seconds=20),
        HoldAction.SUSPEND,
        PLAIN,
        reason="tenant away; no access",
    )
    c = case(conn, case_id)
    assert c["suspended_at"] is None, "an operator's suspension waits for approval"
    assert [(r["kind"], r["decision"]) for r in c["requests"]] == [("suspension", None)]
    with pytest.raises(ActionForbidden, match="another admin or operator approves it"):
        act(conn, case_id, p["op"], t0 + timedelta(seconds=25), HoldAction.APPROVE_SUSPENSION, PLAIN)
    with pytest.raises(ActionForbidden, match="admin or operator"):
        act(conn, case_id, p["mgr"], t0 + timedelta(seconds=25), HoldAction.APPROVE_SUSPENSION, PLAIN)
    act(conn, case_id, p["op2"], t0 + timedelta(seconds=30), HoldAction.APPROVE_SUSPENSION, PLAIN)
    c = case(conn, case_id)
    assert c["suspended_at"] == t0 + timedelta(seconds=30)
    assert [h["action"] for h in c["history"]][-2:] == ["suspension_requested", "suspended"]
    assert c["history"][-1]["detail"]["requested_by"] == p["op"].username
    assert c["history"][-1]["detail"]["approved_by"] == p["op2"].username

    assert escalated(conn, t0 + timedelta(hours=2), case_id) == [], "suspended time does not count"
    with pytest.raises(TransitionRefused, match="suspended since"):
        act(conn, case_id, p["op"], t0 + timedelta(hours=2), Action.ACKNOWLEDGE, PLAIN)
    assert conn.execute(
        "SELECT count(*) FROM cases WHERE id = %s AND suspended_at IS NOT NULL AND status = 'dispatched'",
        (case_id,),
    ).fetchone() == (1,)

    resumed = t0 + timedelta(hours=3)
    act(conn, case_id, p["mgr"], resumed, HoldAction.RESUME, PLAIN)
    c = case(conn, case_id)
    # 30 s of the 60 s acknowledgement and 570 s of the 600 s resolution were left at the suspension
    assert (c["ack_due_at"], c["resolve_due_at"]) == (
        resumed + timedelta(seconds=30),
        resumed + timedelta(seconds=570),
    )
    assert c["suspended_at"] is None
    assert c["history"][-1]["detail"]["suspended_seconds"] == 3 * 3600 - 30
    assert [(s["started_at"], s["ended_at"]) for s in c["suspensions"]] == [
        (t0 + timedelta(seconds=30), resumed)
    ]
    assert escalated(conn, resumed + timedelta(seconds=29), case_id) == []
    assert escalated(conn, resumed + timedelta(seconds=31), case_id) == [("ack", "supervisor")]


def test_an_admin_suspends_in_one_step_and_a_working_clock_stops_over_the_weekend(
    conn: psycopg.Connection[Any],
) -> None:
    where, p = world(conn)
    opened = sh(11, 26, 16)  # Friday 26 November 2021, 16:00: resolution due Tuesday 16:00
    case_id = report(conn, where, p["op"], opened, WORKING)
    assert case(conn, case_id)["resolve_due_at"] == sh(11, 30, 16)
    act(conn, case_id, p["op"], sh(11, 26, 16, 30), Action.ACKNOWLEDGE, WORKING)
    act(
        conn,
        case_id,
        p["boss"],
        sh(11, 26, 17),
        HoldAction.SUSPEND,
        WORKING,
        reason="waiting for a spare part",
    )
    c = case(conn, case_id)
    assert c["suspended_at"] == sh(11, 26, 17)
    last = c["history"][-1]
    assert (last["action"], last["note"]) == ("suspended", "waiting for a spare part")
    assert (last["detail"]["self_approved"], last["detail"]["approved_by"]) == (True, p["boss"].username)
    with pytest.raises(TransitionRefused, match="suspended since"):
        act(conn, case_id, p["boss"], sh(11, 26, 17, 5), HoldAction.SUSPEND, WORKING, reason="again")
    # 17 working hours were left at the suspension (Fri 17-18, Mon 9-18, Tue 9-16); resumed Monday
    # 10:00 they run Monday 10-18 and Tuesday 9-18 → Tuesday 18:00
    act(conn, case_id, p["op"], sh(11, 29, 10), HoldAction.RESUME, WORKING)
    assert case(conn, case_id)["resolve_due_at"] == sh(11, 30, 18)


def test_extensions_need_a_reason_a_limit_and_a_second_person(conn: psycopg.Connection[Any]) -> None:
    where, p = world(conn)
    opened = sh(11, 22, 10)  # Monday: resolution due Wednesday 10:00
    case_id = report(conn, where, p["op"], opened, WORKING)
    at = sh(11, 22, 11)
    with pytest.raises(ActionIncomplete, match="extend needs a reason"):
        act(conn, case_id, p["mgr"], at, HoldAction.EXTEND, WORKING, extend_by="1wd")
    with pytest.raises(ActionIncomplete, match="extend_by"):
        act(conn, case_id, p["mgr"], at, HoldAction.EXTEND, WORKING, reason="contractor booked")
    with pytest.raises(ActionIncomplete, match="extend_by"):
        act(conn, case_id, p["mgr"], at, HoldAction.EXTEND, WORKING, reason="x", extend_by="a while")
    act(conn, case_id, p["mgr"], at, HoldAction.EXTEND, WORKING, reason="contractor booked", extend_by="1wd")
    assert case(conn, case_id)["resolve_due_at"] == sh(11, 24, 10), "not before approval"
    with pytest.raises(TransitionRefused, match="waits for a decision"):
        act(conn, case_id, p["op"], at, HoldAction.EXTEND, WORKING, reason="another", extend_by="2h")
    act(conn, case_id, p["op"], sh(11, 22, 12), HoldAction.APPROVE_EXTENSION, WORKING, note="ok")
    c = case(conn, case_id)
    assert c["resolve_due_at"] == sh(11, 25, 10), "one working day more"
    last = c["history"][-1]
    assert last["action"] == "deadline_extended"
    assert (datetime.fromisoformat(last["detail"]["from"]), datetime.fromisoformat(last["detail"]["to"])) == (
        sh(11, 24, 10),
        sh(11, 25, 10),
    )
    assert (last["detail"]["requested_by"], last["detail"]["approved_by"]) == (
        p["mgr"].username,
        p["op"].username,
    )
    assert [(r["kind"], r["decision"], r["decided_by"]) for r in c["requests"]] == [
        ("extension", "approved", p["op"].username)
    ]

    # a declined request changes nothing; a missed deadline escalates, and a missed extended one again
    act(conn, case_id, p["mgr"], sh(11, 22, 13), HoldAction.EXTEND, WORKING, reason="more", extend_by="4wh")
    act(conn, case_id, p["op2"], sh(11, 22, 14), HoldAction.DECLINE_EXTENSION, WORKING, reason="no")
    assert case(conn, case_id)["resolve_due_at"] == sh(11, 25, 10)
    with pytest.raises(TransitionRefused, match="no extension request"):
        act(conn, case_id, p["op2"], sh(11, 22, 14), HoldAction.APPROVE_EXTENSION, WORKING)
    act(conn, case_id, p["op"], sh(11, 22, 15), Action.ACKNOWLEDGE, WORKING)
    assert escalated(conn, sh(11, 25, 10, 0, 1), case_id) == [("resolve", "supervisor")]
    act(
        conn,
        case_id,
        p["boss"],
        sh(11, 25, 11),
        HoldAction.EXTEND,
        WORKING,
        reason="part late",
        extend_by="2h",
    )
    assert case(conn, case_id)["resolve_due_at"] == sh(11, 25, 12)
    assert escalated(conn, sh(11, 25, 12, 0, 1), case_id) == [("resolve", "street_office")]


def test_hold_refusals(conn: psycopg.Connection[Any]) -> None:
    where, p = world(conn)
    case_id = report(conn, where, p["op"], sh(11, 22, 10), WORKING)
    at = sh(11, 22, 11)
    with pytest.raises(ActionIncomplete, match="suspend needs a reason"):
        act(conn, case_id, p["op"], at, HoldAction.SUSPEND, WORKING)
    with pytest.raises(TransitionRefused, match="is not suspended"):
        act(conn, case_id, p["op"], at, HoldAction.RESUME, WORKING)
    with pytest.raises(TransitionRefused, match="no suspension request"):
        act(conn, case_id, p["op"], at, HoldAction.APPROVE_SUSPENSION, WORKING)
    with pytest.raises(ActionForbidden, match="admin or operator"):
        act(conn, case_id, p["mgr"], at, HoldAction.CONFIRM_ON_SITE, WORKING)
    with pytest.raises(TransitionRefused, match="cannot be confirmed on site"):
        act(conn, case_id, p["op"], at, HoldAction.CONFIRM_ON_SITE, WORKING)
    act(conn, case_id, p["op"], at, HoldAction.SUSPEND, WORKING, reason="no access")
    act(
        conn, case_id, p["op2"], at, HoldAction.DECLINE_SUSPENSION, WORKING, reason="go in with the caretaker"
    )
    c = case(conn, case_id)
    assert c["suspended_at"] is None and c["history"][-1]["action"] == "suspension_declined"
    act(conn, case_id, p["boss"], at, HoldAction.SUSPEND, WORKING, reason="flooded basement")
    act(conn, case_id, p["op"], at, Action.CANCEL, WORKING, reason="duplicate")  # cancel ends a suspension
    c = case(conn, case_id)
    assert (c["status"], c["suspended_at"]) == ("cancelled", None)
    assert c["suspensions"][-1]["ended_at"] == at
    with pytest.raises(TransitionRefused, match="only open cases"):
        act(conn, case_id, p["boss"], at, HoldAction.SUSPEND, WORKING, reason="x")


def test_the_claim_queue_skips_suspended_cases(conn: psycopg.Connection[Any]) -> None:
    where, p = world(conn)
    team = f"hold-{uuid.uuid4().hex[:6]}"
    conn.execute("INSERT INTO team_members (team, user_id) VALUES (%s, %s)", (team, p["op"].id))
    cfg = DispatchConfig(default_team=team)
    case_id = report(conn, where, p["op"], sh(11, 22, 10), cfg)
    act(conn, case_id, p["boss"], sh(11, 22, 10, 5), HoldAction.SUSPEND, cfg, reason="no access")
    assert acting.claim_next(conn, p["op"], [where], sh(11, 22, 11)) is None
    act(conn, case_id, p["boss"], sh(11, 22, 12), HoldAction.RESUME, cfg)
    assert acting.claim_next(conn, p["op"], [where], sh(11, 22, 13)) == case_id


# --- the pure planner -----------------------------------------------------------------------------

PENDING_SUSPENSION = holds.Pending(1, "suspension", "no access", "ann", sh(1, 4, 9))
OPEN = holds.HoldFacts(7, CaseStatus.IN_PROGRESS, None, {})


@pytest.mark.parametrize(
    ("action", "fields", "facts", "role", "expected"),
    [
        (
            HoldAction.SUSPEND,
            {"reason": "x"},
            OPEN,
            "manager",
            holds.HoldPlan("suspension_requested", ask="suspension"),
        ),
        (
            HoldAction.SUSPEND,
            {"reason": "x"},
            OPEN,
            "admin",
            holds.HoldPlan("suspended", suspend=True, self_approved=True),
        ),
        (
            HoldAction.APPROVE_SUSPENSION,
            {},
            replace(OPEN, pending={"suspension": PENDING_SUSPENSION}),
            "operator",
            holds.HoldPlan("suspended", decide="approved", suspend=True),
        ),
        (
            HoldAction.DECLINE_SUSPENSION,
            {"reason": "no"},
            replace(OPEN, pending={"suspension": PENDING_SUSPENSION}),
            "operator",
            holds.HoldPlan("suspension_declined", decide="declined"),
        ),
        (
            HoldAction.RESUME,
            {},
            replace(OPEN, suspended_at=sh(1, 4)),
            "manager",
            holds.HoldPlan("resumed", resume=True),
        ),
        (
            HoldAction.EXTEND,
            {"reason": "x", "extend_by": "2wd"},
            OPEN,
            "admin",
            holds.HoldPlan("deadline_extended", extend=Limit(0.0, "working", "wd", 2.0), self_approved=True),
        ),
        (HoldAction.CONFIRM_ON_SITE, {}, OPEN, "operator", holds.HoldPlan("confirmed_on_site")),
    ],
)
def test_the_hold_planner(
    action: HoldAction, fields: dict[str, Any], facts: holds.HoldFacts, role: str, expected: holds.HoldPlan
) -> None:
    assert holds.plan_hold(ActionRequest(action, **fields), facts, role, "bob") == expected


@pytest.mark.parametrize(
    ("action", "fields", "facts", "role", "error", "message"),
    [
        (HoldAction.SUSPEND, {"reason": "x"}, OPEN, "resident", ActionForbidden, "cannot act on cases"),
        (HoldAction.SUSPEND, {}, OPEN, "operator", ActionIncomplete, "needs a reason"),
        (
            HoldAction.SUSPEND,
            {"reason": "x"},
            replace(OPEN, status=CaseStatus.RESOLVED),
            "operator",
            TransitionRefused,
            "only open cases",
        ),
        (
            HoldAction.APPROVE_SUSPENSION,
            {},
            replace(OPEN, pending={"suspension": PENDING_SUSPENSION}),
            "manager",
            ActionForbidden,
            "admin or operator",
        ),
        (
            HoldAction.APPROVE_SUSPENSION,
            {},
            replace(OPEN, pending={"suspension": replace(PENDING_SUSPENSION, requested_by="bob")}),
            "operator",
            ActionForbidden,
            "bob asked for this suspension",
        ),
        (
            HoldAction.EXTEND,
            {"reason": "x", "extend_by": "0wd"},
            OPEN,
            "admin",
            ActionIncomplete,
            "extend_by",
        ),
        (
            HoldAction.CONFIRM_ON_SITE,
            {},
            replace(OPEN, status=CaseStatus.DISPATCHED),
            "admin",
            TransitionRefused,
            "on site",
        ),
    ],
)
def test_the_hold_planner_refuses(
    action: HoldAction,
    fields: dict[str, Any],
    facts: holds.HoldFacts,
    role: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        holds.plan_hold(ActionRequest(action, **fields), facts, role, "bob")
