"""Organisations in the loop, over the API (real database): admins run organisations, their teams and
integration accounts; a drainage company's integration account acknowledges, works, evidences and
resolves the manhole case routed to its team, is refused other organisations' cases (404) and actions it
does not have (403), hands a case back, and a retried request with its Idempotency-Key changes nothing."""

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import feed
from tests.support.api import API, app_client, login
from tests.support.factories import community

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
ROUTING = """
default_team: og-desk
routes:
  - {name: manholes, match: {category: flood}, team: og-drain-crew}
  - {name: lamps, match: {category: lighting}, team: og-light-crew}
sla:
  - {ack_within: 2h, resolve_within: 2d}
"""
ADMIN, OPERATOR = "og-admin", "og-op"


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    users = {
        ADMIN: ("admin", ()),
        OPERATOR: ("operator", ()),
        "og-drain-bot": ("integration", ()),
        "og-light-bot": ("integration", ()),
        "og-free-bot": ("integration", ()),
    }
    with app_client(database_url, routing=ROUTING, users=users) as c:
        yield c


@pytest.fixture(scope="module")
def place(client: TestClient, database_url: str) -> str:
    """A community served by two organisations: a drainage company and a lighting contractor, each
    with its team and integration account."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "og")
    admin = login(client, ADMIN)
    for org, kind, team, bot in (
        ("og-drainage", "utility", "og-drain-crew", "og-drain-bot"),
        ("og-lighting", "contractor", "og-light-crew", "og-light-bot"),
    ):
        body = {"id": org, "kind": kind, "name_en": org, "name_zh": "公司", "communities": [where]}
        assert client.post(f"{API}/organisations", json=body, headers=admin).status_code == 201
        team_body = {"id": team, "name_en": team, "name_zh": "班组", "communities": [where]}
        assert client.post(f"{API}/teams", json=team_body, headers=admin).status_code == 201
        assert client.put(f"{API}/organisations/{org}/teams/{team}", headers=admin).status_code == 200
        r = client.put(f"{API}/organisations/{org}/accounts/{bot}", headers=admin)
        assert r.status_code == 200, r.text
    return where


def report(client: TestClient, where: str, category: str = "flood") -> dict[str, Any]:
    body = {"community": where, "category": category, "description": "manhole overflowing", "building": "b1"}
    r = client.post(f"{API}/cases", json=body, headers=login(client, OPERATOR))
    assert r.status_code == 201, r.text
    return dict(r.json())


def act(client: TestClient, user: str, case_id: int, key: str | None = None, **body: Any) -> Any:
    headers = login(client, user) | ({"Idempotency-Key": key} if key else {})
    return client.post(f"{API}/cases/{case_id}/actions", json=body, headers=headers)


def audit_of(conn: psycopg.Connection[Any], case_id: int, actor: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT action, outcome, details->>'replayed' FROM audit_log "
        "WHERE target_type = 'case' AND target_id = %s AND actor = %s ORDER BY id",
        (str(case_id), actor),
    ).fetchall()


def test_an_admin_runs_organisations_and_every_change_is_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    admin = login(client, ADMIN)
    org = f"og-ngo-{uuid.uuid4().hex[:6]}"
    body = {"id": org, "kind": "ngo", "name_en": "Helpers", "name_zh": "志愿者", "communities": [place]}
    assert client.post(f"{API}/organisations", json=body, headers=admin).status_code == 201
    assert client.post(f"{API}/organisations", json=body, headers=admin).status_code == 409
    wrong = client.post(f"{API}/organisations", json=body | {"id": "og-x", "kind": "bank"}, headers=admin)
    assert wrong.status_code == 422 and "kind" in wrong.text
    nowhere = client.post(
        f"{API}/organisations", json=body | {"id": "og-y", "communities": ["og-nowhere"]}, headers=admin
    )
    assert nowhere.status_code == 422 and "no community og-nowhere" in nowhere.text
    r = client.patch(f"{API}/organisations/{org}", json={"name_en": "Neighbours"}, headers=admin)
    assert (r.status_code, r.json()["name_en"], r.json()["kind"]) == (200, "Neighbours", "ngo")
    r = client.put(f"{API}/organisations/{org}/accounts/{OPERATOR}", headers=admin)
    assert r.status_code == 422 and "only integration accounts" in r.text
    r = client.put(f"{API}/organisations/{org}/accounts/og-drain-bot", headers=admin)
    assert r.status_code == 409 and "bound to og-drainage" in r.text
    assert client.put(f"{API}/organisations/{org}/accounts/og-free-bot", headers=admin).status_code == 200
    gone = client.delete(f"{API}/organisations/{org}", headers=admin)
    assert gone.status_code == 409 and "og-free-bot" in gone.text
    assert client.delete(f"{API}/organisations/{org}/accounts/og-free-bot", headers=admin).status_code == 200
    assert client.delete(f"{API}/organisations/{org}", headers=admin).status_code == 204
    assert client.get(f"{API}/organisations/{org}", headers=admin).status_code == 404
    assert client.post(f"{API}/organisations", json=body, headers=login(client, OPERATOR)).status_code == 403
    rows = setup_conn.execute(
        "SELECT action, outcome FROM audit_log WHERE target_type = 'organisation' AND target_id = %s "
        "ORDER BY id",
        (org,),
    ).fetchall()
    assert rows == [
        ("organisation.create", 201),
        ("organisation.create", 409),
        ("organisation.update", 200),
        ("organisation.bind_account", 422),
        ("organisation.bind_account", 409),
        ("organisation.bind_account", 200),
        ("organisation.delete", 409),
        ("organisation.unbind_account", 200),
        ("organisation.delete", 204),
    ]


def test_a_bound_account_knows_its_organisation_and_keeps_its_role(client: TestClient, place: str) -> None:
    me = client.get(f"{API}/auth/me", headers=login(client, "og-drain-bot")).json()
    assert (me["organisation"], me["communities"], me["role"]) == ("og-drainage", [place], "integration")
    r = client.patch(f"{API}/users/og-drain-bot", json={"role": "operator"}, headers=login(client, ADMIN))
    assert r.status_code == 422 and "unbind it with DELETE /organisations/og-drainage/accounts" in r.text


def test_a_team_of_an_organisation_serves_only_its_communities(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    admin = login(client, ADMIN)
    elsewhere = community(setup_conn, "og")
    r = client.patch(f"{API}/teams/og-drain-crew", json={"communities": [place, elsewhere]}, headers=admin)
    assert r.status_code == 422 and "belongs to og-drainage" in r.text
    r = client.patch(f"{API}/organisations/og-drainage", json={"communities": [elsewhere]}, headers=admin)
    assert r.status_code == 422 and "og-drain-crew" in r.text
    r = client.put(f"{API}/organisations/og-lighting/teams/og-drain-crew", headers=admin)
    assert r.status_code == 409 and "belongs to og-drainage" in r.text


def test_the_drainage_company_takes_its_manhole_case_from_acknowledgement_to_resolution(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    case = report(client, place)
    assert (case["team"], case["organisation"]) == ("og-drain-crew", "og-drainage")
    bot = "og-drain-bot"
    listed = client.get(f"{API}/cases", headers=login(client, bot)).json()
    assert case["id"] in [c["id"] for c in listed]
    assert {c["organisation"] for c in listed} == {"og-drainage"}
    assert act(client, bot, case["id"], action="acknowledge").json()["status"] == "acknowledged"
    assert act(client, bot, case["id"], action="start").json()["status"] == "in_progress"
    photo = {"photo": base64.b64encode(PNG).decode(), "note": "cover replaced"}
    r = client.post(f"{API}/cases/{case['id']}/attachments", json=photo, headers=login(client, bot))
    assert (r.status_code, r.json()["kind"]) == (201, "photo"), r.text
    r = act(client, bot, case["id"], action="resolve", note="cleared the drain, new cover")
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["assignee"]) == ("resolved", bot)
    assert [e["action"] for e in done["history"] if e["actor"] == bot] == [
        "acknowledged",
        "started",
        "evidence_added",
        "resolved",
    ]
    assert [a for a, o, _ in audit_of(setup_conn, case["id"], bot)] == [
        "case.acknowledge",
        "case.start",
        "case.attach_evidence",
        "case.resolve",
    ]


def test_another_organisations_case_is_not_found_and_other_actions_are_forbidden(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    lamp = report(client, place, "lighting")
    manhole = report(client, place)
    bot = "og-drain-bot"
    for r in (
        client.get(f"{API}/cases/{lamp['id']}", headers=login(client, bot)),
        act(client, bot, lamp["id"], action="acknowledge"),
        client.post(f"{API}/cases/{lamp['id']}/attachments", json={"note": "x"}, headers=login(client, bot)),
    ):
        assert r.status_code == 404, r.text
    assert lamp["id"] not in [c["id"] for c in client.get(f"{API}/cases", headers=login(client, bot)).json()]
    for action in ("assign", "cancel", "close"):
        r = act(client, bot, manhole["id"], action=action, team="og-desk", reason="x")
        assert r.status_code == 403, r.text
        assert "may acknowledge, extend, hand_back, resolve, start, suspend" in r.json()["error"]["message"]
    for action in ("approve_suspension", "confirm_on_site", "resume"):
        assert act(client, bot, manhole["id"], action=action).status_code == 403
    r = act(client, "og-free-bot", manhole["id"], action="acknowledge")
    assert r.status_code == 403, "an integration account bound to no organisation still only reads"
    after = client.get(f"{API}/cases/{manhole['id']}", headers=login(client, OPERATOR)).json()
    assert (after["status"], after["team"]) == ("dispatched", "og-drain-crew")
    assert [(a, o) for a, o, _ in audit_of(setup_conn, lamp["id"], bot)] == [
        ("case.acknowledge", 404),
        ("case.attach_evidence", 404),
    ]


def test_a_retried_resolve_with_the_same_key_changes_nothing(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    case = report(client, place)
    bot = "og-drain-bot"
    act(client, bot, case["id"], action="acknowledge")
    act(client, bot, case["id"], action="start")
    key = str(uuid.uuid4())
    first = act(client, bot, case["id"], key, action="resolve", note="pumped out")
    assert first.status_code == 200, first.text
    again = act(client, bot, case["id"], key, action="resolve", note="pumped out")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    after = client.get(f"{API}/cases/{case['id']}", headers=login(client, OPERATOR)).json()
    assert [e["action"] for e in after["history"]].count("resolved") == 1
    other = act(client, bot, case["id"], key, action="resolve", note="something else")
    assert other.status_code == 422 and "different request" in other.text
    without_key = act(client, bot, case["id"], action="resolve", note="pumped out")
    assert without_key.status_code == 409, "without the key the retry is a second resolve"
    note_key = str(uuid.uuid4())
    evidence = [
        client.post(
            f"{API}/cases/{case['id']}/attachments",
            json={"note": "photo to follow"},
            headers=login(client, bot) | {"Idempotency-Key": note_key},
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in evidence] == [201, 201]
    after = client.get(f"{API}/cases/{case['id']}", headers=login(client, OPERATOR)).json()
    assert [e["action"] for e in after["history"]].count("evidence_added") == 1
    assert audit_of(setup_conn, case["id"], bot)[2:] == [
        ("case.resolve", 200, "false"),
        ("case.resolve", 200, "true"),
        ("case.resolve", 422, None),
        ("case.resolve", 409, None),
        ("case.attach_evidence", 201, "false"),
        ("case.attach_evidence", 201, "true"),
    ]


def test_a_case_that_is_not_ours_goes_back_to_the_dispatchers_queue(client: TestClient, place: str) -> None:
    case = report(client, place)
    bot = "og-drain-bot"
    assert act(client, bot, case["id"], action="acknowledge").status_code == 200
    r = act(client, bot, case["id"], action="hand_back", reason=" ")
    assert r.status_code == 422 and "say why the case is not yours" in r.text
    r = act(client, bot, case["id"], action="hand_back", reason="a water main, not a drain")
    assert r.status_code == 200, r.text
    back = r.json()
    assert (back["status"], back["team"], back["assignee"], back["organisation"]) == (
        "dispatched",
        "og-desk",
        None,
        None,
    )
    last = back["history"][-1]
    assert (last["action"], last["move"], last["note"]) == (
        "handed_back",
        "hand_back",
        "a water main, not a drain",
    )
    assert last["detail"] == {
        "team": "og-desk",
        "previous_team": "og-drain-crew",
        "organisation": "og-drainage",
    }
    assert client.get(f"{API}/cases/{case['id']}", headers=login(client, bot)).status_code == 404


def test_an_organisations_webhook_carries_its_own_teams_cases_only(client: TestClient, place: str) -> None:
    bot = login(client, "og-drain-bot")
    hook = {"url": "https://drainage.example/hub"}
    r = client.post(f"{API}/subscriptions", json=hook, headers=bot)
    assert r.status_code == 201, r.text
    assert (r.json()["teams"], r.json()["communities"]) == (["og-drain-crew"], [place])
    r = client.post(f"{API}/subscriptions", json=hook | {"teams": ["og-light-crew"]}, headers=bot)
    assert r.status_code == 422 and "og-light-crew: not of og-drainage" in r.text
    r = client.post(f"{API}/subscriptions", json=hook | {"communities": ["og-elsewhere"]}, headers=bot)
    assert r.status_code == 422 and "og-elsewhere: not of og-drainage" in r.text


def test_an_organisation_asks_for_more_time_and_the_street_office_decides(
    client: TestClient, place: str
) -> None:
    case = report(client, place)
    bot = "og-drain-bot"
    act(client, bot, case["id"], action="acknowledge")
    r = act(client, bot, case["id"], action="extend", reason="pump on order", extend_by="2wd")
    assert r.status_code == 200, r.text
    assert [(q["kind"], q["requested_by"], q["decision"]) for q in r.json()["requests"]] == [
        ("extension", bot, None)
    ]
    assert act(client, bot, case["id"], action="approve_extension").status_code == 403
    approved = act(client, OPERATOR, case["id"], action="approve_extension")
    assert approved.status_code == 200, approved.text
    assert approved.json()["resolve_due_at"] > case["resolve_due_at"]
    r = act(client, bot, case["id"], action="suspend", reason="road closed by police")
    assert (r.status_code, r.json()["suspended_at"]) == (200, None), "asked for, not in force yet"


def test_the_live_feed_of_an_organisations_account_carries_its_own_cases_only(
    client: TestClient, setup_conn: psycopg.Connection[Any], place: str
) -> None:
    after = feed.latest_event_id(setup_conn)
    mine, theirs = report(client, place), report(client, place, "lighting")
    row = setup_conn.execute("SELECT id FROM users WHERE username = 'og-drain-bot'").fetchone()
    assert row is not None
    bot = User(row[0], "og-drain-bot", Role.INTEGRATION, (place,), "og-drainage")
    seen = feed.events_after(setup_conn, bot, after=after, skip=[], limit=100)
    visible = {payload["case_id"] for _, payload in seen if payload is not None}
    assert mine["id"] in visible and theirs["id"] not in visible
    assert any(payload is None for _, payload in seen), "the other organisation's events are stepped past"
