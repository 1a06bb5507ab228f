"""The admin console's API (in-process app, real database): user accounts, teams, and communities with
their grids and buildings — what admins may do, what managers may do in their own communities only,
what operators and residents are refused, and the audit rows every request leaves."""

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.cli import main
from hub.domain.devices import DeviceKind
from hub.ingest.rules import RuleSet
from hub.settings import Settings
from hub.store import db
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.cli import command_settings
from tests.support.services import ROOT

API = "/api/v1"
PW = "admin-api-pw"
ROUTING = """
default_team: ad-desk
routes:
  - {name: lamps, match: {category: lighting}, team: ad-lamps}
  - {name: floods, match: {category: flood}, team: ad-pumps}
sla:
  - {ack_within: 2wh, resolve_within: 2d}
calendar: {timezone: Asia/Shanghai, workdays: [mon], hours: ["09:00-10:00"]}
calendars:
  always: {timezone: Asia/Shanghai, workdays: [mon, tue, wed, thu, fri, sat, sun], hours: ["00:00-24:00"]}
"""


def unique(prefix: str) -> str:
    """Every name is new: the session database is shared by every test module."""
    return f"ad-{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    routing = tmp_path_factory.mktemp("admin") / "routing.yaml"
    routing.write_text(ROUTING)
    settings = Settings(database_url=database_url, environment="test", routing_file=routing)
    pool = db.make_pool(database_url)
    rule_set = RuleSet(ROOT / "rules", apply=lambda _rules: None)
    rule_set.load()
    with TestClient(create_app(settings, pool, rule_set=rule_set)) as c:
        yield c
    pool.close()


@pytest.fixture(scope="module")
def setup_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def places(setup_conn: psycopg.Connection[Any]) -> tuple[str, str]:
    """Two communities of its own: `here` (the manager's) and `there`."""
    here, there = unique("here"), unique("there")
    for c in (here, there):
        device_store.ensure_community(setup_conn, c)
    return here, there


def person(conn: psycopg.Connection[Any], role: str, *communities: str) -> str:
    name = unique(role)
    upsert_user(conn, name, PW, role, list(communities))
    return name


def login(client: TestClient, user: str, password: str = PW) -> dict[str, str]:
    r = client.post(f"{API}/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def report(client: TestClient, headers: dict[str, str], community: str) -> dict[str, Any]:
    body = {"community": community, "category": "noise", "description": "drums at night", "building": "b1"}
    r = client.post(f"{API}/cases", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def audit_rows(conn: psycopg.Connection[Any], target: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT action, actor, outcome, details FROM audit_log WHERE target_id = %s ORDER BY id", (target,)
    ).fetchall()


# -- users -------------------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_with_a_generated_password_shown_once(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, _ = places
    admin = login(client, person(setup_conn, "admin"))
    name = unique("li")
    r = client.post(
        f"{API}/users",
        json={"username": name, "role": "manager", "communities": [here], "display_name": "Li Wei"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    password = body["password"]
    assert len(password) >= 16
    assert body["user"] | {"created_at": None} == {
        "username": name,
        "display_name": "Li Wei",
        "role": "manager",
        "communities": [here],
        "disabled": False,
        "disabled_at": None,
        "created_at": None,
        "teams": [],
        "sessions": 0,
        "open_cases": 0,
        "manageable": True,
        "own": False,
        "organisation": None,
    }
    me = client.get(f"{API}/auth/me", headers=login(client, name, password)).json()
    assert me == {
        "id": me["id"],
        "username": name,
        "role": "manager",
        "communities": [here],
        "teams": [],
        "organisation": None,
        "organisation_name_en": None,
        "organisation_name_zh": None,
    }
    assert isinstance(me["id"], int)
    shown = client.get(f"{API}/users/{name}", headers=admin).json()
    assert "password" not in shown and shown["sessions"] == 1
    (action, _actor, outcome, details), *_ = audit_rows(setup_conn, name)
    assert (action, outcome) == ("user.create", 201)
    assert details == {"role": "manager", "communities": [here], "generated": True}
    assert password not in str(audit_rows(setup_conn, name))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"role": "resident", "communities": ["HERE"], "password": "short"}, 422, "at least 10 characters"),
        ({"role": "manager"}, 422, "a manager needs at least one community"),
        ({"role": "operator", "communities": ["HERE"]}, 422, "sees every community; leave communities empty"),
        ({"role": "resident", "communities": ["nowhere-x"]}, 422, "no community nowhere-x"),
        ({"role": "chief"}, 422, "role"),
    ],
)
def test_a_new_account_must_make_sense(
    client: TestClient,
    setup_conn: psycopg.Connection[Any],
    places: tuple[str, str],
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    body = {**body, "communities": [places[0] if c == "HERE" else c for c in body.get("communities", [])]}
    r = client.post(f"{API}/users", json={"username": unique("x"), **body}, headers=admin)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]


def test_usernames_are_plain_and_never_reused(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    taken = person(setup_conn, "operator")
    for bad in ("Has Space", "UPPER", "-dash", "x" * 65):
        assert (
            client.post(f"{API}/users", json={"username": bad, "role": "operator"}, headers=admin).status_code
            == 422
        )
    r = client.post(f"{API}/users", json={"username": taken, "role": "operator"}, headers=admin)
    assert r.status_code == 409 and "exists" in r.json()["error"]["message"]


def test_search_by_name_role_community_and_state(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, _ = places
    admin = login(client, person(setup_conn, "admin"))
    tag = uuid.uuid4().hex[:6]
    for i, (role, communities) in enumerate([("resident", [here]), ("resident", [here]), ("operator", [])]):
        r = client.post(
            f"{API}/users",
            json={"username": f"ad-s{i}-{tag}", "role": role, "communities": communities, "display_name": f"Zhang {tag.upper()}"},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 201, r.text
    client.post(f"{API}/users/ad-s1-{tag}/disable", headers=admin)

    def names(**query: str) -> list[str]:
        r = client.get(f"{API}/users", params={"q": tag, **query}, headers=admin)
        assert r.status_code == 200, r.text
        assert int(r.headers["x-total-count"]) == len(r.json())
        return [u["username"] for u in r.json()]

    assert names() == [f"ad-s0-{tag}", f"ad-s1-{tag}", f"ad-s2-{tag}"]
    assert names(q=f"zhang {tag}") == names(), "the display name matches, in any case"
    assert names(role="operator") == [f"ad-s2-{tag}"]
    assert names(community=here) == [f"ad-s0-{tag}", f"ad-s1-{tag}"]
    assert names(state="disabled") == [f"ad-s1-{tag}"]
    assert names(state="active") == [f"ad-s0-{tag}", f"ad-s2-{tag}"]
    page = client.get(f"{API}/users", params={"q": tag, "limit": 1, "offset": 1}, headers=admin)
    assert [u["username"] for u in page.json()] == [f"ad-s1-{tag}"] and page.headers["x-total-count"] == "3"


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    crew = person(setup_conn, "operator")
    token = login(client, crew)
    r = client.post(f"{API}/users/{crew}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] and r.json()["sessions"] == 0
    assert client.get(f"{API}/auth/me", headers=token).status_code == 401
    refused = client.post(f"{API}/auth/login", json={"username": crew, "password": PW})
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]
    wrong = client.post(f"{API}/auth/login", json={"username": crew, "password": "not-the-password"})
    assert wrong.status_code == 401, "a wrong password says nothing about the account"
    assert client.post(f"{API}/users/{crew}/enable", headers=admin).json()["disabled"] is False
    assert client.get(f"{API}/auth/me", headers=login(client, crew)).status_code == 200
    assert [a for a, *_ in audit_rows(setup_conn, crew)] == ["user.disable", "user.enable"]


def test_a_disabled_handler_keeps_their_name_on_their_cases(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, _ = places
    admin = login(client, person(setup_conn, "admin"))
    crew = person(setup_conn, "operator")
    case = report(client, admin, here)
    client.post(
        f"{API}/cases/{case['id']}/actions", json={"action": "acknowledge"}, headers=login(client, crew)
    )
    assert client.get(f"{API}/users/{crew}", headers=admin).json()["open_cases"] == 1
    client.post(f"{API}/users/{crew}/disable", headers=admin)
    assert client.get(f"{API}/cases/{case['id']}", headers=admin).json()["assignee"] == crew


def test_a_reset_password_replaces_the_old_one_and_ends_sessions(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    crew = person(setup_conn, "operator")
    token = login(client, crew)
    r = client.post(f"{API}/users/{crew}/password", json={}, headers=admin)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new = r.json()["password"]
    assert client.get(f"{API}/auth/me", headers=token).status_code == 401
    assert client.post(f"{API}/auth/login", json={"username": crew, "password": PW}).status_code == 401
    login(client, crew, new)
    given = client.post(f"{API}/users/{crew}/password", json={"password": "chosen-by-admin"}, headers=admin)
    assert given.json() == {"password": None}
    login(client, crew, "chosen-by-admin")
    assert [d for a, _, _, d in audit_rows(setup_conn, crew) if a == "user.reset_password"] == [
        {"generated": True},
        {"generated": False},
    ]


def test_ending_sessions_logs_the_account_out_everywhere(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    crew = person(setup_conn, "operator")
    tokens = [login(client, crew), login(client, crew)]
    assert client.delete(f"{API}/users/{crew}/sessions", headers=admin).json() == {"ended": 2}
    assert all(client.get(f"{API}/auth/me", headers=t).status_code == 401 for t in tokens)
    login(client, crew)


def test_role_and_communities_change_together(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, there = places
    admin = login(client, person(setup_conn, "admin"))
    someone = person(setup_conn, "resident", here)
    r = client.patch(
        f"{API}/users/{someone}", json={"role": "manager", "communities": [here, there]}, headers=admin
    )
    assert (r.json()["role"], r.json()["communities"]) == ("manager", sorted([here, there]))
    r = client.patch(f"{API}/users/{someone}", json={"role": "operator"}, headers=admin)
    assert (r.json()["role"], r.json()["communities"]) == ("operator", []), "an operator sees every community"
    r = client.patch(f"{API}/users/{someone}", json={"role": "resident"}, headers=admin)
    assert r.status_code == 422 and "needs at least one community" in r.json()["error"]["message"]
    r = client.patch(f"{API}/users/{someone}", json={"display_name": "Wang Fang"}, headers=admin)
    assert (r.json()["role"], r.json()["display_name"]) == ("operator", "Wang Fang")
    assert (
        client.patch(f"{API}/users/{someone}", json={"display_name": None}, headers=admin).json()[
            "display_name"
        ]
        is None
    )
    assert client.get(f"{API}/auth/me", headers=login(client, someone)).json()["role"] == "operator"


def test_nobody_locks_themselves_out(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    me = person(setup_conn, "admin")
    admin = login(client, me)
    for method, path, body in [
        ("POST", f"/users/{me}/disable", None),
        ("POST", f"/users/{me}/password", {}),
        ("DELETE", f"/users/{me}/sessions", None),
        ("PATCH", f"/users/{me}", {"role": "operator"}),
    ]:
        r = client.request(method, f"{API}{path}", json=body, headers=admin)
        assert r.status_code == 422 and "ask another admin" in r.json()["error"]["message"], (path, r.text)
    r = client.patch(f"{API}/users/{me}", json={"display_name": "The Admin"}, headers=admin)
    assert r.json()["display_name"] == "The Admin" and r.json()["own"] and not r.json()["manageable"]
    assert client.get(f"{API}/auth/me", headers=admin).status_code == 200


def test_a_manager_manages_residents_of_their_own_communities_only(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, there = places
    boss = person(setup_conn, "manager", here)
    manager = login(client, boss)
    own = person(setup_conn, "resident", here)
    both = person(setup_conn, "resident", here, there)
    far = person(setup_conn, "resident", there)
    colleague = person(setup_conn, "manager", here)
    crew = person(setup_conn, "operator")

    listed = {
        u["username"]: u["manageable"]
        for u in client.get(f"{API}/users", params={"limit": 500}, headers=manager).json()
    }
    assert {own: True, both: False, colleague: False, boss: False}.items() <= listed.items()
    assert far not in listed and crew not in listed
    assert all(
        here in u["communities"]
        for u in client.get(f"{API}/users", params={"limit": 500}, headers=manager).json()
    )

    new = unique("res")
    r = client.post(
        f"{API}/users", json={"username": new, "role": "resident", "communities": [here]}, headers=manager
    )
    assert r.status_code == 201, r.text
    assert client.post(f"{API}/users/{own}/disable", headers=manager).status_code == 200
    assert client.post(f"{API}/users/{own}/password", json={}, headers=manager).status_code == 200
    refusals = [
        ("POST", "/users", {"username": unique("x"), "role": "operator"}, 403),
        ("POST", "/users", {"username": unique("x"), "role": "manager", "communities": [here]}, 403),
        ("POST", "/users", {"username": unique("x"), "role": "resident", "communities": [there]}, 422),
        ("PATCH", f"/users/{new}", {"role": "manager"}, 403),
        ("PATCH", f"/users/{new}", {"communities": [here, there]}, 422),
        ("POST", f"/users/{both}/disable", None, 403),
        ("POST", f"/users/{colleague}/password", {}, 403),
        ("GET", f"/users/{far}", None, 404),
        ("POST", f"/users/{far}/disable", None, 404),
        ("DELETE", f"/users/{crew}/sessions", None, 404),
    ]
    for method, path, body, status in refusals:
        r = client.request(method, f"{API}{path}", json=body, headers=manager)
        assert r.status_code == status, (method, path, r.status_code, r.text)
    assert (
        client.post(
            f"{API}/users",
            json={"username": unique("x"), "role": "resident", "communities": [there]},
            headers=manager,
        ).json()["error"]["message"]
        == f"no community {there} in your communities"
    )
    assert setup_conn.execute(
        "SELECT disabled_at IS NULL FROM users WHERE username = %s", (far,)
    ).fetchone() == (True,)
    assert [(a, o) for a, _, o, _ in audit_rows(setup_conn, far)] == [
        ("user.read", 404),
        ("user.disable", 404),
    ]


@pytest.mark.parametrize("role", ["operator", "resident", "integration"])
def test_other_roles_get_no_user_management(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str], role: str
) -> None:
    caller = login(client, person(setup_conn, role, *([places[0]] if role == "resident" else [])))
    target = person(setup_conn, "resident", places[0])
    for method, path, body in [
        ("GET", "/users", None),
        ("GET", f"/users/{target}", None),
        ("POST", "/users", {"username": unique("x"), "role": "resident", "communities": [places[0]]}),
        ("PATCH", f"/users/{target}", {"display_name": "x"}),
        ("POST", f"/users/{target}/disable", None),
        ("POST", f"/users/{target}/password", {}),
        ("DELETE", f"/users/{target}/sessions", None),
    ]:
        r = client.request(method, f"{API}{path}", json=body, headers=caller)
        assert r.status_code == 403, (method, path, r.status_code)
    assert ("user.disable", 403) in [(a, o) for a, _, o, _ in audit_rows(setup_conn, target)]


# -- teams -------------------------------------------------------------------------------------------------


def teams_of(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = client.get(f"{API}/teams", headers=headers)
    assert r.status_code == 200, r.text
    return {t["team"]: t for t in r.json()}


def test_teams_the_configuration_names_are_listed_without_a_record(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    listed = teams_of(client, login(client, person(setup_conn, "operator")))
    assert listed["ad-desk"] | {"open_cases": 0} == {
        "team": "ad-desk",
        "name_en": None,
        "name_zh": None,
        "communities": [],
        "in_table": False,
        "members": [],
        "open_cases": 0,
        "named_by": ["routing"],
        "editable": False,
    }
    assert listed["ad-lamps"]["named_by"] == ["routing"]
    assert listed["fire-safety"]["named_by"] == ["rules"], "rules/smoke.yaml dispatches to it"


def test_an_admin_gives_a_team_its_names_and_everyone_reads_them(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    team = unique("team")
    r = client.post(
        f"{API}/teams", json={"id": team, "name_en": "Night patrol", "name_zh": "夜间巡逻"}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert (r.json()["in_table"], r.json()["communities"], r.json()["editable"]) == (True, [], True)
    r = client.patch(
        f"{API}/teams/{team}", json={"name_zh": "夜巡队", "communities": [places[0]]}, headers=admin
    )
    assert (r.json()["name_en"], r.json()["name_zh"], r.json()["communities"]) == (
        "Night patrol",
        "夜巡队",
        [places[0]],
    )
    resident = login(client, person(setup_conn, "resident", places[1]))
    names = {n["team"]: n for n in client.get(f"{API}/teams/names", headers=resident).json()}
    assert names[team] == {"team": team, "name_en": "Night patrol", "name_zh": "夜巡队"}
    assert client.get(f"{API}/teams", headers=resident).status_code == 403
    dup = client.post(f"{API}/teams", json={"id": team, "name_en": "x", "name_zh": "x"}, headers=admin)
    assert dup.status_code == 409
    blank = client.post(
        f"{API}/teams", json={"id": unique("t"), "name_en": "  ", "name_zh": "x"}, headers=admin
    )
    assert blank.status_code == 422
    assert [a for a, *_ in audit_rows(setup_conn, team)] == ["team.create", "team.update", "team.create"]


def test_only_an_unused_team_is_deleted(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    names = {"name_en": "Temp", "name_zh": "临时"}
    spare, staffed, busy = unique("spare"), unique("staffed"), unique("busy")
    for team in (spare, staffed, busy, "ad-pumps"):
        assert client.post(f"{API}/teams", json={"id": team, **names}, headers=admin).status_code == 201
    client.put(f"{API}/teams/{staffed}/members/{person(setup_conn, 'operator')}", headers=admin)
    case = report(client, admin, places[0])
    client.post(f"{API}/cases/{case['id']}/actions", json={"action": "assign", "team": busy}, headers=admin)
    for team, why in [
        (staffed, "1 member(s)"),
        (busy, "cases"),
        ("ad-pumps", "the routing configuration names it"),
    ]:
        r = client.delete(f"{API}/teams/{team}", headers=admin)
        assert r.status_code == 409 and why in r.json()["error"]["message"], r.text
    assert client.delete(f"{API}/teams/{spare}", headers=admin).status_code == 204
    assert client.delete(f"{API}/teams/{spare}", headers=admin).status_code == 404
    assert spare not in teams_of(client, admin)


def test_members_handle_cases_and_the_old_routes_keep_working(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    team = unique("norecord")  # no record: membership works by id alone
    crew = person(setup_conn, "operator")
    assert client.put(f"{API}/teams/{team}/members/{crew}", headers=admin).status_code == 204
    listed = teams_of(client, admin)[team]
    assert (listed["in_table"], listed["members"]) == (False, [crew])
    resident = person(setup_conn, "resident", places[0])
    r = client.put(f"{API}/teams/{team}/members/{resident}", headers=admin)
    assert r.status_code == 422 and "handle cases" in r.json()["error"]["message"]
    gone = person(setup_conn, "operator")
    client.post(f"{API}/users/{gone}/disable", headers=admin)
    assert client.put(f"{API}/teams/{team}/members/{gone}", headers=admin).status_code == 422
    assert client.get(f"{API}/users/{crew}", headers=admin).json()["teams"] == [team]
    assert client.delete(f"{API}/teams/{team}/members/{crew}", headers=admin).status_code == 204
    assert [(a, d) for a, _, _, d in audit_rows(setup_conn, team)][-1] == (
        "team.remove_member",
        {"member": crew},
    )


def test_a_manager_sees_and_edits_only_the_teams_of_their_communities(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, there = places
    admin = login(client, person(setup_conn, "admin"))
    boss = person(setup_conn, "manager", here)
    manager = login(client, boss)
    names = {"name_en": "Team", "name_zh": "班组"}
    theirs, everywhere, shared = unique("far"), unique("all"), unique("shared")
    for team, communities in [(theirs, [there]), (everywhere, []), (shared, [here, there])]:
        assert (
            client.post(
                f"{API}/teams", json={"id": team, "communities": communities, **names}, headers=admin
            ).status_code
            == 201
        )

    own = unique("own")
    r = client.post(f"{API}/teams", json={"id": own, "communities": [here], **names}, headers=manager)
    assert r.status_code == 201 and r.json()["editable"], r.text
    listed = teams_of(client, manager)
    assert theirs not in listed
    assert {t: listed[t]["editable"] for t in (own, everywhere, shared, "ad-desk")} == {
        own: True, everywhere: False, shared: False, "ad-desk": False,
    }  # fmt: skip
    colleague, crew = person(setup_conn, "manager", here), person(setup_conn, "operator")
    assert client.put(f"{API}/teams/{own}/members/{colleague}", headers=manager).status_code == 204
    assert (
        client.patch(f"{API}/teams/{own}", json={"name_zh": "日出物业"}, headers=manager).json()["name_zh"]
        == "日出物业"
    )
    refusals = [
        ("POST", "/teams", {"id": unique("x"), "communities": [there], **names}, 422),
        ("POST", "/teams", {"id": unique("x"), **names}, 422),
        ("POST", "/teams", {"id": "ad-lamps", "communities": [here], **names}, 403),
        ("PATCH", f"/teams/{everywhere}", {"name_en": "x"}, 403),
        ("PATCH", f"/teams/{shared}", {"name_en": "x"}, 403),
        ("PATCH", f"/teams/{theirs}", {"name_en": "x"}, 404),
        ("PATCH", f"/teams/{own}", {"communities": [here, there]}, 422),
        ("DELETE", f"/teams/{theirs}", None, 404),
        ("PUT", f"/teams/{own}/members/{crew}", None, 404),
        ("PUT", f"/teams/{everywhere}/members/{colleague}", None, 403),
        ("PUT", f"/teams/ad-lamps/members/{colleague}", None, 404),
    ]
    for method, path, body, status in refusals:
        r = client.request(method, f"{API}{path}", json=body, headers=manager)
        assert r.status_code == status, (method, path, r.status_code, r.text)
    assert client.delete(f"{API}/teams/{own}/members/{colleague}", headers=manager).status_code == 204
    assert client.delete(f"{API}/teams/{own}", headers=manager).status_code == 204


def test_operators_read_teams_but_do_not_change_them(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    operator = login(client, person(setup_conn, "operator"))
    assert client.get(f"{API}/teams", headers=operator).status_code == 200
    names = {"name_en": "x", "name_zh": "x"}
    assert client.post(f"{API}/teams", json={"id": unique("t"), **names}, headers=operator).status_code == 403
    crew = person(setup_conn, "operator")
    assert client.put(f"{API}/teams/ad-desk/members/{crew}", headers=operator).status_code == 403


# -- communities -------------------------------------------------------------------------------------------


def test_an_admin_creates_and_sets_up_a_community(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    cid = unique("park")
    body = {
        "id": cid,
        "name": "Lakeside Park",
        "name_zh": "湖畔花园",
        "timezone": "Asia/Shanghai",
        "latitude": 31.2,
        "longitude": 121.5,
    }
    r = client.post(f"{API}/communities", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json() | {"grids": None} == {
        **body, "calendar": None, "grids": None, "buildings": [], "calendars": ["always"], "calendar_known": True,
    }  # fmt: skip
    assert client.post(f"{API}/communities", json=body, headers=admin).status_code == 409
    r = client.patch(
        f"{API}/communities/{cid}",
        json={"calendar": "always", "latitude": None, "longitude": None},
        headers=admin,
    )
    assert (r.json()["calendar"], r.json()["latitude"], r.json()["name_zh"]) == ("always", None, "湖畔花园")
    for change, message in [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"calendar": "nine-day"}, "no calendar 'nine-day' (it has: always)"),
        ({"latitude": 30.0}, "latitude and longitude together"),
        ({"name": None}, "needs a name"),
        ({"latitude": 91, "longitude": 0}, "less than or equal to 90"),
    ]:
        r = client.patch(f"{API}/communities/{cid}", json=change, headers=admin)
        assert r.status_code == 422 and message in r.json()["error"]["message"], (change, r.text)
    listed = {c["id"]: c for c in client.get(f"{API}/communities", headers=admin).json()}
    assert listed[cid]["name"] == "Lakeside Park" and listed[cid]["devices"] == 0
    assert [a for a, *_ in audit_rows(setup_conn, cid)][:2] == ["community.create", "community.create"]


def test_grids_and_buildings_have_names_and_devices_keep_their_ids(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, person(setup_conn, "admin"))
    cid = unique("site")
    client.post(f"{API}/communities", json={"id": cid, "name": "Site"}, headers=admin)
    device_store.upsert_device(
        setup_conn,
        device_store.NewDevice(
            id=unique("sd"), kind=DeviceKind.SMOKE_DETECTOR, community_id=cid, building="b9", grid="g9"
        ),
        None,
    )
    url = f"{API}/communities/{cid}"
    assert (
        client.put(
            f"{url}/grids/g1", json={"name_en": "North grid", "name_zh": "北区"}, headers=admin
        ).status_code
        == 200
    )
    r = client.put(
        f"{url}/buildings/b1", json={"name_en": "Building 1", "name_zh": "1号楼", "grid": "g1"}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = client.put(
        f"{url}/buildings/b1", json={"name_en": "Tower 1", "name_zh": "1号楼", "grid": "g1"}, headers=admin
    )
    site = r.json()
    assert site["grids"] == [
        {"id": "g1", "name_en": "North grid", "name_zh": "北区", "named": True, "devices": 0},
        {"id": "g9", "name_en": None, "name_zh": None, "named": False, "devices": 1},
    ]
    assert site["buildings"] == [
        {"id": "b1", "grid": "g1", "name_en": "Tower 1", "name_zh": "1号楼", "named": True, "devices": 0},
        {"id": "b9", "grid": "g9", "name_en": None, "name_zh": None, "named": False, "devices": 1},
    ]
    bad = client.put(
        f"{url}/buildings/b2", json={"name_en": "B2", "name_zh": "2号楼", "grid": "g9"}, headers=admin
    )
    assert bad.status_code == 422 and "give the grid its name first" in bad.json()["error"]["message"]
    assert (
        client.put(f"{url}/grids/g9", json={"name_en": "South", "name_zh": "南区"}, headers=admin).status_code
        == 200
    )
    assert (
        client.put(
            f"{url}/buildings/b9", json={"name_en": "B9", "name_zh": "9号楼", "grid": "g9"}, headers=admin
        ).status_code
        == 200
    )
    held = client.delete(f"{url}/grids/g1", headers=admin)
    assert held.status_code == 409 and "1 building(s)" in held.json()["error"]["message"]
    assert client.delete(f"{url}/buildings/b9", headers=admin).status_code == 409
    assert client.delete(f"{url}/buildings/b1", headers=admin).status_code == 204
    assert client.delete(f"{url}/grids/g1", headers=admin).status_code == 204
    assert client.delete(f"{url}/grids/g1", headers=admin).status_code == 404
    assert (
        client.put(f"{url}/grids/bad%20id", json={"name_en": "x", "name_zh": "x"}, headers=admin).status_code
        == 422
    )


def test_a_manager_edits_only_their_communities_and_creates_none(
    client: TestClient, setup_conn: psycopg.Connection[Any], places: tuple[str, str]
) -> None:
    here, there = places
    manager = login(client, person(setup_conn, "manager", here))
    assert [c["id"] for c in client.get(f"{API}/communities", headers=manager).json()] == [here]
    r = client.patch(f"{API}/communities/{here}", json={"name_zh": "这里"}, headers=manager)
    assert r.status_code == 200 and r.json()["name_zh"] == "这里"
    assert (
        client.put(
            f"{API}/communities/{here}/grids/g1", json={"name_en": "G1", "name_zh": "一区"}, headers=manager
        ).status_code
        == 200
    )
    for method, path, body, status in [
        ("GET", f"/communities/{there}", None, 404),
        ("PATCH", f"/communities/{there}", {"name": "x"}, 404),
        ("PUT", f"/communities/{there}/grids/g1", {"name_en": "x", "name_zh": "x"}, 404),
        ("POST", "/communities", {"id": unique("new"), "name": "x"}, 403),
    ]:
        r = client.request(method, f"{API}{path}", json=body, headers=manager)
        assert r.status_code == status, (method, path, r.status_code, r.text)
    operator = login(client, person(setup_conn, "operator"))
    assert client.get(f"{API}/communities/{there}", headers=operator).status_code == 200
    assert client.patch(f"{API}/communities/{there}", json={"name": "x"}, headers=operator).status_code == 403
    rows = setup_conn.execute(
        "SELECT action, outcome FROM audit_log WHERE target_type = 'community' AND community_id = %s ORDER BY id",
        (there,),
    ).fetchall()
    assert ("community.update", 404) in rows and ("community.update", 403) in rows


def test_a_community_counts_working_time_on_the_calendar_it_names(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    """The routing file's own calendar has one working hour a week; `always` has every hour."""
    admin = login(client, person(setup_conn, "admin"))
    on_own, on_always = unique("own"), unique("always")
    client.post(f"{API}/communities", json={"id": on_own, "name": "Own"}, headers=admin)
    client.post(
        f"{API}/communities", json={"id": on_always, "name": "Always", "calendar": "always"}, headers=admin
    )

    def ack_within(community: str) -> timedelta:
        case = report(client, admin, community)
        return datetime.fromisoformat(case["ack_due_at"]) - datetime.fromisoformat(case["created_at"])

    assert ack_within(on_always) == timedelta(hours=2)
    assert ack_within(on_own) > timedelta(days=6), "two working hours of Mondays 09:00-10:00"


# -- the command line --------------------------------------------------------------------------------------


def test_the_command_line_sets_up_teams_as_an_admin_would(
    database_url: str,
    setup_conn: psycopg.Connection[Any],
    places: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    with command_settings(monkeypatch, database_url):
        crew, team = person(setup_conn, "operator"), unique("cli")
        names = ["--name-en", "Night shift", "--name-zh", "夜班"]
        assert main(["teams", "add", team, *names, "--community", places[0], "--member", crew]) == 0
        assert (
            main(["teams", "add", team, "--name-en", "Late shift", "--name-zh", "晚班", "--member", crew])
            == 0
        )
        assert setup_conn.execute("SELECT name_en, name_zh, communities FROM teams WHERE id = %s", (team,)).fetchone() == (
            "Late shift", "晚班", [],
        )  # fmt: skip
        members = setup_conn.execute("SELECT count(*) FROM team_members WHERE team = %s", (team,)).fetchone()
        assert members == (1,)
        resident = person(setup_conn, "resident", places[0])
        assert main(["teams", "add", team, *names, "--member", resident]) == 1
        assert "only admins, operators and managers handle cases" in capsys.readouterr().err
        listing = tmp_path / "teams.yaml"
        listing.write_text("- {id: x-team, name_en: X}\n", encoding="utf-8")
        assert main(["teams", "import", str(listing)]) == 2
        assert "each with id, name_en and name_zh" in capsys.readouterr().err
