"""Organisation members over the API (real database): an admin creates a person of a drainage company
(role member, bound to it); the member sees and works only the company's cases in the communities it
serves — another organisation's case, and the company's own team's case in a community it does not
serve, are 404 — is refused (403) the actions and pages that stay with the hub's people, answers the
street office's call on the company, and every action is audited under the member's name."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.domain.cases import OPEN_STATUSES
from tests.support.api import API, PASSWORD, app_client, login
from tests.support.factories import community

ROUTING = """
default_team: om-desk
routes:
  - {name: manholes, match: {category: flood}, team: om-drain-crew}
  - {name: lamps, match: {category: lighting}, team: om-light-crew}
sla:
  - {ack_within: 2h, resolve_within: 2d}
"""
ADMIN, OPERATOR, MANAGER = "om-admin", "om-op", "om-manager"
MEMBER, OTHER_MEMBER = "om-drain-lead", "om-light-lead"


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    users = {ADMIN: ("admin", ()), OPERATOR: ("operator", ())}
    with app_client(database_url, routing=ROUTING, users=users) as c:
        yield c


@pytest.fixture(scope="module")
def places(client: TestClient, database_url: str) -> tuple[str, str]:
    """Two communities: the drainage company and the lighting contractor serve the first, each with its
    team (which serves only it) and a member; the second is served by neither."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        served, unserved = community(conn, "om"), community(conn, "om")
    admin = login(client, ADMIN)
    for org, team, member in (
        ("om-drainage", "om-drain-crew", MEMBER),
        ("om-lighting", "om-light-crew", OTHER_MEMBER),
    ):
        body = {"id": org, "kind": "contractor", "name_en": org, "name_zh": "公司", "communities": [served]}
        assert client.post(f"{API}/organisations", json=body, headers=admin).status_code == 201
        team_body = {"id": team, "name_en": team, "name_zh": "班组", "communities": [served]}
        assert client.post(f"{API}/teams", json=team_body, headers=admin).status_code == 201
        assert client.put(f"{API}/organisations/{org}/teams/{team}", headers=admin).status_code == 200
        person = {"username": member, "role": "member", "organisation": org, "password": PASSWORD * 5}
        r = client.post(f"{API}/users", json=person, headers=admin)
        assert r.status_code == 201, r.text
    manager = {"username": MANAGER, "role": "manager", "communities": [served], "password": PASSWORD * 5}
    assert client.post(f"{API}/users", json=manager, headers=admin).status_code == 201
    return served, unserved


def member(client: TestClient, name: str = MEMBER) -> dict[str, str]:
    return login(client, name, PASSWORD * 5)


def report(client: TestClient, where: str, category: str = "flood") -> dict[str, Any]:
    body = {"community": where, "category": category, "description": "manhole overflowing", "building": "b1"}
    r = client.post(f"{API}/cases", json=body, headers=login(client, OPERATOR))
    assert r.status_code == 201, r.text
    return dict(r.json())


def act(client: TestClient, headers: dict[str, str], case_id: int, **body: Any) -> Any:
    return client.post(f"{API}/cases/{case_id}/actions", json=body, headers=headers)


def test_an_admin_creates_a_member_with_its_organisation_and_nothing_else(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    admin = login(client, ADMIN)
    shown = client.get(f"{API}/users/{MEMBER}", headers=admin).json()
    assert (shown["role"], shown["organisation"], shown["communities"]) == ("member", "om-drainage", [])
    org = client.get(f"{API}/organisations/om-drainage", headers=admin).json()
    assert (org["members"], org["accounts"]) == ([MEMBER], [])
    me = client.get(f"{API}/auth/me", headers=member(client)).json()
    assert (me["role"], me["organisation"], me["communities"]) == ("member", "om-drainage", [places[0]])
    refused: dict[str, tuple[dict[str, Any], dict[str, str], int, str]] = {
        "om-x1": ({"role": "member"}, admin, 422, "name it in organisation"),
        "om-x2": ({"role": "member", "organisation": "om-none"}, admin, 422, "no organisation om-none"),
        "om-x3": (
            {"role": "member", "organisation": "om-drainage", "communities": [places[0]]},
            admin,
            422,
            "leave communities empty",
        ),
        "om-x4": (
            {"role": "operator", "organisation": "om-drainage"},
            admin,
            422,
            "only members are created",
        ),
        "om-x5": (
            {"role": "member", "organisation": "om-drainage"},
            login(client, MANAGER, PASSWORD * 5),
            403,
            "residents only",
        ),
    }
    for name, (body, headers, status, says) in refused.items():
        r = client.post(f"{API}/users", json={"username": name} | body, headers=headers)
        assert (r.status_code, says in r.text) == (status, True), (name, r.text)
    r = client.patch(f"{API}/users/{MEMBER}", json={"role": "operator"}, headers=admin)
    assert r.status_code == 422 and "member of om-drainage for good" in r.text
    r = client.patch(f"{API}/users/{OPERATOR}", json={"role": "member"}, headers=admin)
    assert r.status_code == 422 and "created with its organisation" in r.text
    r = client.delete(f"{API}/organisations/om-drainage/accounts/{MEMBER}", headers=admin)
    assert r.status_code == 422 and "disable the account instead" in r.text
    r = client.delete(f"{API}/organisations/om-drainage", headers=admin)
    assert r.status_code == 409 and f"member(s) {MEMBER}" in r.text
    rows = setup_conn.execute(
        "SELECT outcome, details->>'organisation' FROM audit_log WHERE action = 'user.create' AND target_id = %s",
        (MEMBER,),
    ).fetchall()
    assert rows == [(201, "om-drainage")]


def test_the_member_works_its_own_case_to_resolution_and_every_step_is_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    case = report(client, places[0])
    assert case["organisation"] == "om-drainage"
    me = member(client)
    listed = client.get(f"{API}/cases", headers=me).json()
    assert case["id"] in [c["id"] for c in listed]
    assert {c["organisation"] for c in listed} == {"om-drainage"}
    assert act(client, me, case["id"], action="acknowledge").json()["status"] == "acknowledged"
    assert act(client, me, case["id"], action="start").json()["status"] == "in_progress"
    r = client.post(
        f"{API}/cases/{case['id']}/attachments", json={"note": "pumped out, cover reset"}, headers=me
    )
    assert (r.status_code, r.json()["kind"]) == (201, "note"), r.text
    closure = client.get(f"{API}/cases/{case['id']}/closure", headers=me)
    assert closure.status_code == 200, closure.text
    r = act(client, me, case["id"], action="resolve", note="drain cleared")
    assert (r.status_code, r.json()["status"], r.json()["assignee"]) == (200, "resolved", MEMBER), r.text
    r = act(client, me, case["id"], action="close")
    assert r.status_code == 403 and "may acknowledge, extend, hand_back, resolve, start, suspend" in r.text
    rows = setup_conn.execute(
        "SELECT action, outcome, role FROM audit_log WHERE target_type = 'case' AND target_id = %s "
        "AND actor = %s ORDER BY id",
        (str(case["id"]), MEMBER),
    ).fetchall()
    assert rows == [
        ("case.acknowledge", 200, "member"),
        ("case.start", 200, "member"),
        ("case.attach_evidence", 201, "member"),
        ("case.resolve", 200, "member"),
        ("case.close", 403, "member"),
    ]


def test_another_organisations_case_and_an_unserved_community_are_not_found(
    client: TestClient, places: tuple[str, str]
) -> None:
    lamp = report(client, places[0], "lighting")
    far_manhole = report(client, places[1])
    assert far_manhole["team"] == "om-drain-crew", "routing sends it to the company's team all the same"
    me = member(client)
    for case in (lamp, far_manhole):
        for r in (
            client.get(f"{API}/cases/{case['id']}", headers=me),
            client.get(f"{API}/cases/{case['id']}/closure", headers=me),
            act(client, me, case["id"], action="acknowledge"),
            act(client, me, case["id"], action="hand_back", reason="not ours"),
            client.post(f"{API}/cases/{case['id']}/attachments", json={"note": "x"}, headers=me),
        ):
            assert r.status_code == 404, r.text
    listed = {c["id"] for c in client.get(f"{API}/cases", headers=me).json()}
    assert not listed & {lamp["id"], far_manhole["id"]}
    assert lamp["id"] in {
        c["id"] for c in client.get(f"{API}/cases", headers=member(client, OTHER_MEMBER)).json()
    }
    assert act(client, login(client, OPERATOR), lamp["id"], action="acknowledge").status_code == 200


def test_what_stays_with_the_hubs_people_is_forbidden_to_a_member(
    client: TestClient, places: tuple[str, str]
) -> None:
    case = report(client, places[0])
    me = member(client)
    for action, extra in (("assign", {"team": "om-desk"}), ("cancel", {"reason": "x"})):
        r = act(client, me, case["id"], action=action, **extra)
        assert r.status_code == 403, r.text
    call = {"organisations": ["om-lighting"], "request": "check the lamp", "respond_within": "4wh"}
    for method, path, body in (
        ("POST", f"/cases/{case['id']}/calls", call),
        ("POST", "/cases", {"community": places[0], "category": "flood", "description": "x"}),
        ("POST", "/cases/next", None),
        ("GET", "/kpis", None),
        ("GET", "/alerts", None),
        ("GET", "/users", None),
        ("GET", "/teams", None),
        ("GET", "/audit", None),
    ):
        r = client.request(method, f"{API}{path}", json=body, headers=me)
        assert r.status_code == 403, (path, r.text)
    r = act(client, me, case["id"], action="hand_back", reason="a blocked pipe of the road works, not ours")
    assert (r.status_code, r.json()["team"]) == (200, "om-desk"), r.text
    assert client.get(f"{API}/cases/{case['id']}", headers=me).status_code == 404


def test_the_member_answers_the_street_offices_call_on_its_organisation(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    lamp = report(client, places[0], "lighting")
    call = {
        "organisations": ["om-drainage"],
        "request": "check the drain under the lamp",
        "respond_within": "4wh",
    }
    r = client.post(f"{API}/cases/{lamp['id']}/calls", json=call, headers=login(client, OPERATOR))
    assert r.status_code == 201, r.text
    call_id = r.json()["calls"][0]["id"]
    me = member(client)
    assert client.get(f"{API}/cases/{lamp['id']}", headers=me).status_code == 200
    other = member(client, OTHER_MEMBER)
    r = client.post(
        f"{API}/cases/{lamp['id']}/calls/{call_id}/answer", json={"answer": "accept"}, headers=other
    )
    assert r.status_code == 403, r.text
    r = client.post(f"{API}/cases/{lamp['id']}/calls/{call_id}/answer", json={"answer": "done"}, headers=me)
    assert r.status_code == 200, r.text
    assert [(k["state"], k["answered_by"]) for k in r.json()["calls"]] == [("done", MEMBER)]
    assert act(client, me, lamp["id"], action="acknowledge").status_code == 404
    rows = setup_conn.execute(
        "SELECT actor, outcome FROM audit_log WHERE action = 'case.answer_call' AND target_id = %s ORDER BY id",
        (str(lamp["id"]),),
    ).fetchall()
    assert rows == [(OTHER_MEMBER, 403), (MEMBER, 200)]


def test_the_site_summary_counts_only_the_organisations_open_cases(
    client: TestClient, places: tuple[str, str]
) -> None:
    report(client, places[0], "lighting")
    me = member(client)
    open_ones = [
        c
        for c in client.get(f"{API}/cases", params={"limit": 500}, headers=me).json()
        if c["status"] in {s.value for s in OPEN_STATUSES}
    ]
    sites = {s["id"]: s for s in client.get(f"{API}/sites", headers=me).json()}
    assert list(sites) == [places[0]], "the communities the organisation serves only"
    assert sites[places[0]]["open_cases"] == len(open_ones) > 0
    everyone = {s["id"]: s for s in client.get(f"{API}/sites", headers=login(client, OPERATOR)).json()}
    assert everyone[places[0]]["open_cases"] > len(open_ones)
