"""Case dispatch through the API (in-process app, real database): actions and their refusals, scope,
residents' reports with photos, ratings, teams and the claim queue."""

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.cases import acting
from hub.cases.actions import MOVE, Action, ActionRequest
from hub.cases.config import DispatchConfig
from hub.domain.cases import MOVES, CaseStatus, TransitionRefused, check, target_of
from hub.domain.devices import DeviceKind
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.api import act, app_client, login
from tests.support.factories import community

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
ROUTING = """
default_team: cx-desk
routes:
  - {name: lamps, match: {category: lighting}, team: cx-lighting}
sla:
  - {category: fire, ack_within: 5m, resolve_within: 1h}
  - {ack_within: 2h, resolve_within: 2d}
report_severity: {fire: critical}
"""


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    users = {"cx-admin": ("admin", ()), "cx-op": ("operator", ()), "cx-int": ("integration", ())}
    with app_client(database_url, routing=ROUTING, users=users) as c:
        yield c


def person(conn: psycopg.Connection[Any], role: str, *communities: str) -> str:
    name = f"cx-{role}-{uuid.uuid4().hex[:6]}"
    upsert_user(conn, name, "pw", role, list(communities))
    return name


def open_case(client: TestClient, where: str, **extra: Any) -> dict[str, Any]:
    body = {"community": where, "category": "infrastructure", "description": "cracked kerb", "building": "b1"}
    r = client.post("/api/v1/cases", json=body | extra, headers=login(client, "cx-op"))
    assert r.status_code == 201, r.text
    return dict(r.json())


FIELDS = {"note": "done", "team": "cx-other", "reason": "duplicate report"}


@pytest.mark.parametrize(("current", "action"), [(s, a) for s in CaseStatus for a in Action])
def test_every_action_from_every_status_is_applied_or_refused_with_409(
    client: TestClient, setup_conn: psycopg.Connection[Any], current: CaseStatus, action: Action
) -> None:
    case = open_case(client, community(setup_conn, "cx"))
    setup_conn.execute("UPDATE cases SET status = %s WHERE id = %s", (current.value, case["id"]))
    last_before = "dispatched"
    if current is CaseStatus.RESOLVED:  # as `resolve` leaves it: verified closure reads the note
        setup_conn.execute(
            "INSERT INTO case_events (case_id, actor, action, from_status, to_status, note) "
            "VALUES (%s, 'cx-op', 'resolved', 'in_progress', 'resolved', 'fixed')",
            (case["id"],),
        )
        last_before = "resolved"
    r = act(client, "cx-op", case["id"], action.value, **FIELDS)
    target = target_of(MOVE[action])
    if current in MOVES[MOVE[action]].sources:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target
        last = r.json()["history"][-1]
        assert (last["actor"], last["from_status"], last["to_status"]) == ("cx-op", current, target)
    else:
        assert r.status_code == 409, r.text
        with pytest.raises(TransitionRefused) as refused:
            check(MOVE[action], current, target)
        assert r.json()["error"] == {"status": 409, "message": str(refused.value), "details": []}
        after = client.get(f"/api/v1/cases/{case['id']}", headers=login(client, "cx-op")).json()
        assert after["status"] == current and after["history"][-1]["action"] == last_before


def test_a_refusal_says_what_may_come_next(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    case = open_case(client, community(setup_conn, "cx"))
    setup_conn.execute("UPDATE cases SET status = 'resolved' WHERE id = %s", (case["id"],))
    r = act(client, "cx-op", case["id"], "acknowledge")
    assert r.status_code == 409
    assert (
        r.json()["error"]["message"]
        == "a case that is resolved cannot become acknowledged; allowed next: closed, reopened"
    )


def test_a_case_through_its_whole_life_with_every_step_in_the_history(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    case = open_case(client, community(setup_conn, "cx"), category="lighting")
    assert (case["status"], case["team"], case["source"]) == ("dispatched", "cx-lighting", "operator")
    assert (
        act(client, "cx-op", case["id"], "assign", team="cx-street", note="pole, not lamp").status_code == 200
    )
    acked = act(client, "cx-op", case["id"], "acknowledge").json()
    assert acked["assignee"] == "cx-op" and acked["acknowledged_at"] is not None
    assert act(client, "cx-op", case["id"], "start").status_code == 200
    no_note = act(client, "cx-op", case["id"], "resolve")
    assert no_note.status_code == 422 and "note" in no_note.json()["error"]["message"]
    assert act(client, "cx-op", case["id"], "resolve", note="re-seated the pole").json()["resolved_at"]
    assert act(client, "cx-admin", case["id"], "reopen", note="still leaning").status_code == 200
    assert act(client, "cx-op", case["id"], "start").status_code == 200
    assert act(client, "cx-op", case["id"], "resolve", note="new foundation").status_code == 200
    done = act(client, "cx-admin", case["id"], "close", note="checked on site").json()
    steps = [(h["action"], h["from_status"], h["to_status"], h["actor"], h["note"]) for h in done["history"]]
    assert steps == [
        ("opened", None, "new", "cx-op", "operator report"),
        ("dispatched", "new", "dispatched", "system", "team cx-lighting (routing rule lamps)"),
        ("assigned", "dispatched", "dispatched", "cx-op", "team cx-lighting → cx-street: pole, not lamp"),
        ("acknowledged", "dispatched", "acknowledged", "cx-op", None),
        ("started", "acknowledged", "in_progress", "cx-op", None),
        ("resolved", "in_progress", "resolved", "cx-op", "re-seated the pole"),
        ("reopened", "resolved", "reopened", "cx-admin", "still leaning"),
        ("started", "reopened", "in_progress", "cx-op", None),
        ("resolved", "in_progress", "resolved", "cx-op", "new foundation"),
        ("closed", "resolved", "closed", "cx-admin", "checked on site"),
    ]
    assert done["history"][2]["detail"] == {
        "team": "cx-street",
        "previous_team": "cx-lighting",
        "note": "pole, not lamp",
    }
    assert [h["move"] for h in done["history"]] == [
        "open",
        "dispatch",
        "assign",
        "acknowledge",
        "start",
        "resolve",
        "reopen",
        "start",
        "resolve",
        "close",
    ]
    assert done["team"] == "cx-street"


def test_cancel_needs_a_reason_and_keeps_it(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    case = open_case(client, community(setup_conn, "cx"))
    r = act(client, "cx-op", case["id"], "cancel", note="no reason given")
    assert r.status_code == 422 and "reason" in r.json()["error"]["message"]
    done = act(client, "cx-op", case["id"], "cancel", reason="reported twice").json()
    assert (done["status"], done["cancel_reason"], done["history"][-1]["note"]) == (
        "cancelled",
        "reported twice",
        "reported twice",
    )
    assert act(client, "cx-op", case["id"], "assign", team="x").status_code == 409


def test_who_may_act_on_which_case(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    here, there = community(setup_conn, "cx"), community(setup_conn, "cx")
    manager, stranger = person(setup_conn, "manager", here), person(setup_conn, "manager", there)
    resident = person(setup_conn, "resident", here)
    case = open_case(client, here)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=login(client, stranger)).status_code == 404
    r = act(client, stranger, case["id"], "acknowledge")
    assert (
        r.status_code == 404 and r.json()["error"]["message"] == f"no case {case['id']} in your communities"
    )
    assert all(
        c["id"] != case["id"] for c in client.get("/api/v1/cases", headers=login(client, stranger)).json()
    )
    assert act(client, "cx-int", case["id"], "acknowledge").status_code == 403
    assert act(client, manager, case["id"], "acknowledge").status_code == 200
    assert act(client, manager, case["id"], "start").status_code == 200
    assert act(client, manager, case["id"], "resolve", note="swept").status_code == 200
    close = act(client, manager, case["id"], "close")
    assert close.status_code == 403 and "admin or operator" in close.json()["error"]["message"]
    assert act(client, "cx-op", case["id"], "close").status_code == 200
    own = client.post(
        "/api/v1/cases",
        json={"community": here, "category": "noise", "description": "drilling at night", "grid": "g1"},
        headers=login(client, resident),
    ).json()
    r = act(client, resident, own["id"], "cancel", reason="it stopped")
    assert r.status_code == 403 and "rate" in r.json()["error"]["message"]
    assert client.get("/api/v1/cases/999999999", headers=login(client, "cx-op")).status_code == 404


def test_concurrent_actions_on_one_case_serialize(
    client: TestClient, setup_conn: psycopg.Connection[Any], database_url: str
) -> None:
    """The second acknowledge waits for the first one's row lock, then sees `acknowledged` and is refused."""
    case = open_case(client, community(setup_conn, "cx"))
    row = setup_conn.execute("SELECT id FROM users WHERE username = 'cx-op'").fetchone()
    assert row is not None
    op = User(int(row[0]), "cx-op", Role.OPERATOR, ())
    outcome: list[str] = []

    def second() -> None:
        with psycopg.connect(database_url, autocommit=True) as c2:
            try:
                acting.act(
                    c2, case["id"], op, ActionRequest(Action.ACKNOWLEDGE), datetime.now(UTC), DispatchConfig()
                )
                outcome.append("applied")
            except TransitionRefused as exc:
                outcome.append(str(exc))

    with psycopg.connect(database_url, autocommit=True) as c1, c1.transaction():
        acting.act(c1, case["id"], op, ActionRequest(Action.ACKNOWLEDGE), datetime.now(UTC), DispatchConfig())
        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.5)
        assert racer.is_alive(), "the second action must wait for the first one's lock"
    racer.join(10)
    assert outcome == [
        "a case that is acknowledged cannot become acknowledged; allowed next: cancelled, dispatched, in_progress"
    ]
    history = client.get(f"/api/v1/cases/{case['id']}", headers=login(client, "cx-op")).json()["history"]
    assert [h["action"] for h in history].count("acknowledged") == 1


def test_a_resident_reports_with_a_photo_and_only_they_follow_it(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    here = community(setup_conn, "cx")
    lamp = device_store.NewDevice(f"{here}-lp1", DeviceKind.LAMPPOST, here, grid="g7")
    device_store.upsert_device(setup_conn, lamp, None)
    alice, bob = person(setup_conn, "resident", here), person(setup_conn, "resident", here)
    body = {
        "community": here,
        "category": "lighting",
        "description": "Lamp flickers all night\nnear the playground",
        "device_id": f"{here}-lp1",
        "photo": base64.b64encode(PNG).decode(),
    }
    r = client.post("/api/v1/cases", json=body, headers=login(client, alice))
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["source"], case["team"], case["severity"], case["grid"]) == (
        "resident",
        "cx-lighting",
        "minor",
        "g7",
    )
    assert case["title"] == "Lamp flickers all night"
    created, ack_due = datetime.fromisoformat(case["created_at"]), datetime.fromisoformat(case["ack_due_at"])
    assert (ack_due - created).total_seconds() == 7200
    [attachment] = case["attachments"]
    assert (attachment["content_type"], attachment["size"]) == ("image/png", len(PNG))
    url = f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}"
    photo = client.get(url, headers=login(client, alice))
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"
    assert client.get(url, headers=login(client, bob)).status_code == 404
    assert client.get(f"/api/v1/cases/{case['id']}", headers=login(client, bob)).status_code == 404
    assert [c["id"] for c in client.get("/api/v1/cases", headers=login(client, alice)).json()] == [case["id"]]
    assert client.get("/api/v1/cases", headers=login(client, bob)).json() == []
    assert client.get(f"/api/v1/cases/{case['id']}", headers=login(client, "cx-op")).status_code == 200


def test_report_refusals(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    here, there = community(setup_conn, "cx"), community(setup_conn, "cx")
    resident = person(setup_conn, "resident", here)
    base = {"community": here, "category": "noise", "description": "dog barking", "building": "b2"}

    def post(user: str, **changes: Any) -> Any:
        return client.post("/api/v1/cases", json=base | changes, headers=login(client, user))

    assert post(resident, community=there).status_code == 403
    assert post(resident, severity="critical").status_code == 422
    assert post(resident, building=None).status_code == 422
    assert post(resident, description="  \n ").status_code == 422
    assert post(resident, device_id="no-such-device").status_code == 422
    gif = post(resident, photo=base64.b64encode(b"GIF89a" + bytes(50)).decode())
    assert gif.status_code == 415 and "JPEG or PNG" in gif.json()["error"]["message"]
    big = post(resident, photo=base64.b64encode(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)).decode())
    assert big.status_code == 413
    assert post(resident, photo="%%%").status_code == 422
    assert post("cx-int").status_code == 403
    assert post("cx-op", community="cx-nowhere").status_code == 404
    fire = post(resident, category="fire").json()
    assert (fire["severity"], fire["team"]) == ("critical", "cx-desk")
    assert (
        datetime.fromisoformat(fire["ack_due_at"]) - datetime.fromisoformat(fire["created_at"])
    ).total_seconds() == 300
    operator_case = post("cx-op", community=there, severity="major")
    assert operator_case.status_code == 201 and operator_case.json()["severity"] == "major"
    assert setup_conn.execute("SELECT count(*) FROM cases WHERE community_id = %s", (here,)).fetchone() == (
        1,
    )


def test_ratings(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    here, there = community(setup_conn, "cx"), community(setup_conn, "cx")
    reporter, neighbour = person(setup_conn, "resident", here), person(setup_conn, "resident", here)
    outsider = person(setup_conn, "resident", there)
    report = client.post(
        "/api/v1/cases",
        json={
            "community": here,
            "category": "sanitation",
            "description": "bins overflowing",
            "building": "b1",
        },
        headers=login(client, reporter),
    ).json()
    url = f"/api/v1/cases/{report['id']}/rating"
    early = client.post(url, json={"stars": 5}, headers=login(client, reporter))
    assert early.status_code == 409 and "once it is resolved or closed" in early.json()["error"]["message"]
    for action, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "emptied"})):
        assert act(client, "cx-op", report["id"], action, **fields).status_code == 200
    assert client.post(url, json={"stars": 6}, headers=login(client, reporter)).status_code == 422
    assert (
        client.post(url, json={"stars": 4, "comment": "quick"}, headers=login(client, reporter)).status_code
        == 201
    )
    again = client.post(url, json={"stars": 1}, headers=login(client, reporter))
    assert again.status_code == 409 and "already rated" in again.json()["error"]["message"]
    assert client.post(url, json={"stars": 2}, headers=login(client, neighbour)).status_code == 404
    assert client.post(url, json={"stars": 2}, headers=login(client, "cx-op")).status_code == 403

    setup_conn.execute(
        "INSERT INTO cases (title, category, severity, status, source, subject, community_id) "
        "VALUES ('Smoke in b1', 'fire', 'critical', 'closed', 'alert', %s, %s)",
        (f"{here}-sd1", here),
    )
    alert_case = setup_conn.execute("SELECT id FROM cases WHERE subject = %s", (f"{here}-sd1",)).fetchone()
    assert alert_case is not None
    alert_url = f"/api/v1/cases/{alert_case[0]}/rating"
    assert client.post(alert_url, json={"stars": 5}, headers=login(client, neighbour)).status_code == 201
    assert client.post(alert_url, json={"stars": 3}, headers=login(client, reporter)).status_code == 201
    assert client.post(alert_url, json={"stars": 3}, headers=login(client, outsider)).status_code == 404
    detail = client.get(f"/api/v1/cases/{report['id']}", headers=login(client, reporter)).json()
    assert [(r["stars"], r["comment"]) for r in detail["ratings"]] == [(4, "quick")]
    assert (detail["history"][-1]["action"], detail["history"][-1]["detail"]) == (
        "rated",
        {"stars": 4, "comment": "quick"},
    )


def test_teams_and_the_claim_queue(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    here, there = community(setup_conn, "cx"), community(setup_conn, "cx")
    team = f"cx-t{uuid.uuid4().hex[:6]}"
    crew, boss = person(setup_conn, "operator"), person(setup_conn, "manager", here)
    admin = login(client, "cx-admin")
    assert (
        client.post("/api/v1/cases/next", headers=login(client, crew))
        .json()["error"]["message"]
        .startswith("you belong to no team")
    )
    for member in (crew, boss):
        assert client.put(f"/api/v1/teams/{team}/members/{member}", headers=admin).status_code == 204
    assert client.put(f"/api/v1/teams/{team}/members/nobody-{team}", headers=admin).status_code == 404
    assert client.put(f"/api/v1/teams/{team}/members/{crew}", headers=login(client, crew)).status_code == 403
    assert client.put(f"/api/v1/teams/Bad Team/members/{crew}", headers=admin).status_code == 422
    listed = {t["team"]: t["members"] for t in client.get("/api/v1/teams", headers=admin).json()}
    assert listed[team] == sorted([crew, boss])

    minor = open_case(client, here, severity="minor")
    major_there = open_case(client, there, severity="major")
    critical = open_case(client, here, severity="critical")
    for c in (minor, major_there, critical):
        assert act(client, "cx-op", c["id"], "assign", team=team).status_code == 200

    first = client.post("/api/v1/cases/next", headers=login(client, boss)).json()
    assert (first["id"], first["status"], first["assignee"]) == (critical["id"], "acknowledged", boss)
    assert first["history"][-1]["action"] == "claimed"
    assert first["history"][-1]["detail"] == {"team": first["team"]}
    assert client.post("/api/v1/cases/next", headers=login(client, boss)).json()["id"] == minor["id"]
    empty = client.post("/api/v1/cases/next", headers=login(client, boss))
    assert empty.status_code == 404, "a manager claims only in their communities"
    assert empty.json()["error"]["message"] == "no unclaimed case waits for your teams"
    assert client.post("/api/v1/cases/next", headers=login(client, crew)).json()["id"] == major_there["id"]
    assert client.post("/api/v1/cases/next", headers=login(client, crew)).status_code == 404
    assert client.delete(f"/api/v1/teams/{team}/members/{crew}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/teams/{team}/members/{crew}", headers=admin).status_code == 404
    assert client.post("/api/v1/cases/next", headers=login(client, "cx-int")).status_code == 403


def test_the_queue_holds_only_unclaimed_cases_of_ones_teams(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    here = community(setup_conn, "cx")
    team = f"cx-t{uuid.uuid4().hex[:6]}"
    crew = person(setup_conn, "operator")
    client.put(f"/api/v1/teams/{team}/members/{crew}", headers=login(client, "cx-admin"))
    taken = open_case(client, here)
    act(client, "cx-op", taken["id"], "assign", team=team)
    act(client, "cx-op", taken["id"], "acknowledge")
    open_case(client, here)
    assert client.post("/api/v1/cases/next", headers=login(client, crew)).status_code == 404
