"""The street office calls, departments respond (API in-process, real database): a call on two
departments blocks closure until both reported done, each answer is the called organisation's own, and
an unanswered call escalates once through the escalation job."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.jobs.escalation import escalate_unanswered_calls
from tests.support.api import API, app_client, login
from tests.support.factories import community

ROUTING = """
default_team: kc-desk
sla:
  - {ack_within: 2h, resolve_within: 2d}
"""
ADMIN, OPERATOR, MANAGER = "kc-admin", "kc-op", "kc-manager"
BOTS = {"kc-water": "kc-water-bot", "kc-gas": "kc-gas-bot", "kc-far": "kc-far-bot"}


@pytest.fixture(scope="module")
def where(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return community(conn, "kc")


@pytest.fixture(scope="module")
def client(database_url: str, where: str) -> Iterator[TestClient]:
    users = {ADMIN: ("admin", ()), OPERATOR: ("operator", ()), MANAGER: ("manager", (where,))}
    users |= dict.fromkeys(BOTS.values(), ("integration", ()))
    with app_client(database_url, routing=ROUTING, users=users) as c:
        admin = login(c, ADMIN)
        with psycopg.connect(database_url, autocommit=True) as conn:
            elsewhere = community(conn, "kc")
        for org, bot in BOTS.items():
            served = [elsewhere] if org == "kc-far" else [where]
            body = {"id": org, "kind": "utility", "name_en": org, "name_zh": "公司", "communities": served}
            assert c.post(f"{API}/organisations", json=body, headers=admin).status_code == 201
            assert c.put(f"{API}/organisations/{org}/accounts/{bot}", headers=admin).status_code == 200
        yield c


def new_case(client: TestClient, where: str) -> dict[str, Any]:
    body = {"community": where, "category": "flood", "description": "street flooded", "building": "b1"}
    r = client.post(f"{API}/cases", json=body, headers=login(client, OPERATOR))
    assert r.status_code == 201, r.text
    return dict(r.json())


def call(client: TestClient, case_id: int, *orgs: str, within: str = "4wh", user: str = OPERATOR) -> Any:
    body = {
        "organisations": list(orgs),
        "request": "pump the street and check the gas main",
        "respond_within": within,
    }
    return client.post(f"{API}/cases/{case_id}/calls", json=body, headers=login(client, user))


def answer(
    client: TestClient, bot: str, case_id: int, call_id: int, reply: str, note: str | None = None
) -> Any:
    body = {"answer": reply} | ({"note": note} if note is not None else {})
    return client.post(f"{API}/cases/{case_id}/calls/{call_id}/answer", json=body, headers=login(client, bot))


def act(client: TestClient, case_id: int, action: str, **body: Any) -> Any:
    r = client.post(
        f"{API}/cases/{case_id}/actions", json={"action": action, **body}, headers=login(client, OPERATOR)
    )
    return r


def test_a_call_on_two_departments_blocks_closure_until_both_reported_done(
    client: TestClient, where: str
) -> None:
    case = new_case(client, where)
    r = call(client, case["id"], "kc-water", "kc-gas")
    assert r.status_code == 201, r.text
    calls = {c["organisation"]: c for c in r.json()["calls"]}
    assert set(calls) == {"kc-water", "kc-gas"}
    assert {c["state"] for c in calls.values()} == {"open"}
    assert all(c["respond_by"] > c["called_at"] for c in calls.values())
    for action, extra in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "pumped"})):
        assert act(client, case["id"], action, **extra).status_code == 200
    closure = client.get(f"{API}/cases/{case['id']}/closure", headers=login(client, OPERATOR)).json()
    item = next(i for i in closure["items"] if i["code"] == "calls")
    assert (closure["can_close"], item["state"], item["organisations"]) == (
        False,
        "missing",
        ["kc-gas", "kc-water"],
    )
    refused = act(client, case["id"], "close")
    assert refused.status_code == 409 and "kc-gas, kc-water" in refused.json()["error"]["message"]

    water, gas = calls["kc-water"]["id"], calls["kc-gas"]["id"]
    assert answer(client, "kc-water-bot", case["id"], water, "accept").status_code == 200
    assert answer(client, "kc-water-bot", case["id"], water, "done", "street pumped dry").status_code == 200
    assert act(client, case["id"], "close").status_code == 409, "the gas company has not answered yet"
    r = answer(client, "kc-gas-bot", case["id"], gas, "done", "main checked, no leak")
    assert r.status_code == 200, r.text
    assert {c["organisation"]: c["state"] for c in r.json()["calls"]} == {
        "kc-water": "done",
        "kc-gas": "done",
    }
    closed = act(client, case["id"], "close")
    assert (closed.status_code, closed.json()["status"]) == (200, "closed"), closed.text
    history = [(e["action"], (e["detail"] or {}).get("organisation")) for e in closed.json()["history"]]
    assert [h for h in history if h[0] in ("called", "call_answered")] == [
        ("called", "kc-gas"),
        ("called", "kc-water"),
        ("call_answered", "kc-water"),
        ("call_answered", "kc-water"),
        ("call_answered", "kc-gas"),
    ]


def test_only_the_called_organisation_answers_and_only_as_its_call_allows(
    client: TestClient, where: str
) -> None:
    case = new_case(client, where)
    call_id = call(client, case["id"], "kc-water").json()["calls"][0]["id"]
    seen = client.get(f"{API}/cases/{case['id']}", headers=login(client, "kc-water-bot"))
    assert seen.status_code == 200, "a called department reads the case it is called on"
    listed = client.get(f"{API}/cases", headers=login(client, "kc-water-bot")).json()
    assert case["id"] in [c["id"] for c in listed]
    assert client.get(f"{API}/cases/{case['id']}", headers=login(client, "kc-gas-bot")).status_code == 404
    assert answer(client, "kc-gas-bot", case["id"], call_id, "accept").status_code == 404
    assert answer(client, OPERATOR, case["id"], call_id, "accept").status_code == 403
    r = answer(client, "kc-water-bot", case["id"], call_id, "decline", " ")
    assert r.status_code == 422 and "decline needs a reason" in r.text
    assert answer(client, "kc-water-bot", case["id"], call_id, "decline", "not our main").status_code == 200
    again = answer(client, "kc-water-bot", case["id"], call_id, "done")
    assert again.status_code == 409 and "a call that is declined cannot be answered done" in again.text
    r = client.post(
        f"{API}/cases/{case['id']}/actions",
        json={"action": "acknowledge"},
        headers=login(client, "kc-water-bot"),
    )
    assert r.status_code == 404, "a call lets the department read and answer, not act on the case"


def test_calls_are_made_by_the_street_office_on_departments_serving_the_community(
    client: TestClient, where: str
) -> None:
    case = new_case(client, where)
    assert call(client, case["id"], "kc-water", user=MANAGER).status_code == 403
    assert call(client, case["id"], "kc-water", user="kc-gas-bot").status_code == 403
    far = call(client, case["id"], "kc-far")
    assert far.status_code == 422 and f"no organisation kc-far serving {where}" in far.text
    bad = call(client, case["id"], "kc-water", within="soon")
    assert bad.status_code == 422 and "respond_within" in bad.text
    assert call(client, case["id"], "kc-water").status_code == 201
    twice = call(client, case["id"], "kc-gas", "kc-water")
    assert twice.status_code == 409 and "kc-water has an open call" in twice.text
    after = client.get(f"{API}/cases/{case['id']}", headers=login(client, OPERATOR)).json()
    assert [c["organisation"] for c in after["calls"]] == ["kc-water"], "all or none"


def test_an_unanswered_call_escalates_once(
    client: TestClient, where: str, setup_conn: psycopg.Connection[Any]
) -> None:
    case = new_case(client, where)
    calls = call(client, case["id"], "kc-water", "kc-gas", within="30m").json()["calls"]
    by_org = {c["organisation"]: c["id"] for c in calls}
    assert answer(client, "kc-gas-bot", case["id"], by_org["kc-gas"], "accept").status_code == 200
    due = datetime.fromisoformat(calls[0]["respond_by"])
    escalate_unanswered_calls(setup_conn, due - timedelta(minutes=1))
    before = client.get(f"{API}/cases/{case['id']}", headers=login(client, OPERATOR)).json()
    assert "call_escalated" not in [e["action"] for e in before["history"]], "not before its deadline"
    later = max(due, datetime.now(UTC)) + timedelta(minutes=1)
    assert escalate_unanswered_calls(setup_conn, later) >= 1
    escalate_unanswered_calls(setup_conn, later + timedelta(hours=1))
    after = client.get(f"{API}/cases/{case['id']}", headers=login(client, OPERATOR)).json()
    escalated = [e for e in after["history"] if e["action"] == "call_escalated"]
    assert [(e["actor"], e["detail"]["organisation"]) for e in escalated] == [("system", "kc-water")]
    states = {c["organisation"]: (c["state"], c["escalated_at"] is not None) for c in after["calls"]}
    assert states == {"kc-water": ("open", True), "kc-gas": ("accepted", False)}
    late = answer(client, "kc-water-bot", case["id"], by_org["kc-water"], "accept", "late, crew on the way")
    assert late.status_code == 200, "an escalated call may still be answered"
