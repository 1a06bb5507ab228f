"""Alert-raised cases: routed by the routing table before the rule's own team, deadlines from the rule's
dispatch, and a second alert on the same subject and category joining the open case."""

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.cases import intake
from hub.cases.config import DispatchConfig
from hub.cases.routing import Match, RouteRule
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.engine.schema import Rule
from hub.store import cases as case_store
from tests.support.factories import community, device, threshold_rule

T0 = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)


def rule(rule_id: str, severity: str, ack: str, resolve: str) -> Rule:
    return threshold_rule(
        rule_id,
        kinds=["manhole"],
        severity=severity,
        category="gas",
        when="ch4_pct_lel > 10",
        team="gas-emergency",
        ack_within=ack,
        resolve_within=resolve,
    )


def manhole(conn: psycopg.Connection[Any], building: str | None) -> DeviceRef:
    return device(conn, community(conn, "al"), "mh1", DeviceKind.MANHOLE, building)


def opened(r: Rule, d: DeviceRef, at: datetime) -> AlertOpened:
    return AlertOpened(r, d, d.id, at, at, {"readings": []})


DISPATCH = DispatchConfig(
    default_team="desk",
    routes=[RouteRule(name="b7 caretaker", match=Match(building="b7", category="gas"), team="b7-caretaker")],
)


def test_a_routing_rule_beats_the_alert_rules_team(conn: psycopg.Connection[Any]) -> None:
    d = manhole(conn, "b7")
    case_id = intake.open_alert_case(
        conn, opened(rule("al-ch4", "critical", "2m", "1h"), d, T0), DISPATCH, T0
    )
    assert case_id is not None
    case = case_store.get_case(conn, case_id)
    assert case is not None
    assert (case["team"], case["status"], case["source"]) == ("b7-caretaker", "dispatched", "alert")
    assert [h["action"] for h in case["history"]] == ["opened", "dispatched"]
    assert case["history"][1]["note"] == "team b7-caretaker (routing rule b7 caretaker)"


def test_without_a_route_the_rule_team_and_its_deadlines_apply_and_a_second_alert_joins(
    conn: psycopg.Connection[Any],
) -> None:
    d = manhole(conn, "b1")
    first = intake.open_alert_case(conn, opened(rule("al-h2s", "major", "10m", "4h"), d, T0), DISPATCH, T0)
    assert first is not None
    case = case_store.get_case(conn, first)
    assert case is not None
    assert case["team"] == "gas-emergency"
    assert case["history"][1]["detail"] == {
        "team": "gas-emergency",
        "routed_by": "the alert rule's team",
        "route": "rule",
        "route_name": None,
    }
    assert (case["ack_due_at"], case["resolve_due_at"]) == (
        T0 + timedelta(minutes=10),
        T0 + timedelta(hours=4),
    )

    later = T0 + timedelta(minutes=1)
    joined = intake.open_alert_case(
        conn, opened(rule("al-ch4b", "critical", "2m", "1h"), d, later), DISPATCH, later
    )
    assert joined == first
    case = case_store.get_case(conn, first)
    assert case is not None
    assert case["severity"] == "critical"
    assert (case["ack_due_at"], case["resolve_due_at"]) == (
        later + timedelta(minutes=2),
        later + timedelta(hours=1),
    )
    assert [h["action"] for h in case["history"]] == ["opened", "dispatched", "alert_joined"]
    assert len(case["alerts"]) == 2

    slower = intake.open_alert_case(
        conn, opened(rule("al-slow", "minor", "1d", "7d"), d, later), DISPATCH, later
    )
    assert slower == first
    case = case_store.get_case(conn, first)
    assert case is not None
    assert (case["severity"], case["ack_due_at"]) == ("critical", later + timedelta(minutes=2)), (
        "never relaxed"
    )
