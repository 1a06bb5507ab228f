"""A reporter's own say on their report through the API (in-process app, real database): comments go into
the history as written, a report is withdrawn (the move `withdraw`) only by its reporter and only while
nobody has started on it, and both are audited; a cancelled case says which move ended it and where it
went (`ended`)."""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.settings import Settings
from hub.store import db
from hub.store import devices as device_store
from hub.store.users import upsert_user

ROUTING = "default_team: rp-desk\nmerge: {auto: false}\n"


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    routing = tmp_path_factory.mktemp("reporters") / "routing.yaml"
    routing.write_text(ROUTING)
    settings = Settings(database_url=database_url, environment="test", routing_file=routing)
    pool = db.make_pool(database_url)
    with TestClient(create_app(settings, pool)) as c:
        yield c
    pool.close()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


class Place:
    """A community with a resident who reports, a neighbour and an operator."""

    def __init__(self, client: TestClient, conn: psycopg.Connection[Any]) -> None:
        self.client = client
        self.conn = conn
        self.id = f"rp-{uuid.uuid4().hex[:8]}"
        device_store.ensure_community(conn, self.id)
        self.names: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        for who, role in (("alice", "resident"), ("bob", "resident"), ("op", "operator"), ("admin", "admin")):
            name = self.names[who] = f"{self.id}-{who}"
            upsert_user(conn, name, "pw", role, [self.id] if role == "resident" else [])
            r = client.post("/api/v1/auth/login", json={"username": name, "password": "pw"})
            self.headers[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def report(self, who: str = "alice") -> int:
        body = {"community": self.id, "category": "lighting", "description": "lamp out", "building": "b1"}
        r = self.client.post("/api/v1/cases", json=body, headers=self.headers[who])
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def post(self, who: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"/api/v1/cases{path}", json=body, headers=self.headers[who])

    def audit(self, case_id: int, action: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT actor, outcome, details FROM audit_log WHERE target_type = 'case' "
            "AND target_id = %s AND action = %s ORDER BY id",
            (str(case_id), action),
        ).fetchall()


def test_a_reporter_comments_on_their_report_and_nobody_else_does(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    p = Place(client, conn)
    case_id = p.report()
    r = p.post("alice", f"/{case_id}/comments", {"text": "  It is the lamp by the bins, not the gate.  "})
    assert r.status_code == 201, r.text
    last = r.json()["history"][-1]
    assert (last["action"], last["actor"], last["note"], last["to_status"]) == (
        "commented",
        p.names["alice"],
        "It is the lamp by the bins, not the gate.",
        None,
    )
    assert r.json()["status"] == "dispatched", "a comment leaves the status alone"
    neighbour = p.post("bob", f"/{case_id}/comments", {"text": "me too"})
    assert neighbour.status_code == 404, "a neighbour's report is not theirs to see"
    staff = p.post("op", f"/{case_id}/comments", {"text": "noted"})
    assert staff.status_code == 403
    assert staff.json()["error"]["message"] == "comments come from the person who reported the problem"
    blank = p.post("alice", f"/{case_id}/comments", {"text": "   "})
    assert blank.status_code == 422 and "text" in blank.json()["error"]["message"]
    assert p.audit(case_id, "case.comment") == [
        (p.names["alice"], 201, {"length": 41}),
        (p.names["bob"], 404, {"length": 6, "refusal": f"no case {case_id} in your communities"}),
        (p.names["op"], 403, {"length": 5, "refusal": staff.json()["error"]["message"]}),
        (p.names["alice"], 422, {"refusal": "body.text: String should have at least 1 character"}),
    ]


def test_a_report_is_withdrawn_by_its_reporter_while_nobody_has_started_on_it(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    p = Place(client, conn)
    case_id = p.report()
    other = p.report("bob")
    assert p.post("op", f"/{case_id}/withdraw", {}).status_code == 403
    bob = p.post("bob", f"/{other}/withdraw", {"reason": "it works again"})
    assert bob.status_code == 200, bob.text
    assert p.post("alice", f"/{other}/withdraw", {}).status_code == 404

    done = p.post("alice", f"/{case_id}/withdraw", {"reason": "fixed itself this morning"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["cancel_reason"]) == (
        "cancelled",
        "withdrawn by the reporter: fixed itself this morning",
    )
    last = body["history"][-1]
    assert (last["action"], last["move"], last["actor"], last["note"]) == (
        "withdrawn",
        "withdraw",
        p.names["alice"],
        "fixed itself this morning",
    )
    assert {k: body["ended"][k] for k in ("move", "actor", "into", "note")} == {
        "move": "withdraw",
        "actor": p.names["alice"],
        "into": None,
        "note": "fixed itself this morning",
    }
    again = p.post("alice", f"/{case_id}/withdraw", {})
    assert again.status_code == 409
    assert again.json()["error"]["message"] == f"case {case_id} is cancelled and can no longer be withdrawn"

    taken = p.report()
    assert p.post("op", f"/{taken}/actions", {"action": "acknowledge"}).status_code == 200
    late = p.post("alice", f"/{taken}/withdraw", {})
    assert late.status_code == 409
    assert late.json()["error"]["message"] == (
        f"case {taken} is acknowledged: someone has already started on it, so it can no longer be "
        "withdrawn; add a comment instead"
    )
    assert p.post("alice", f"/{taken}/comments", {"text": "still out"}).status_code == 201
    assert [(o, d) for _, o, d in p.audit(case_id, "case.withdraw")] == [
        (
            403,
            {"with_reason": False, "refusal": f"only the person who reported case {case_id} can withdraw it"},
        ),
        (200, {"with_reason": True}),
        (409, {"with_reason": False, "refusal": again.json()["error"]["message"]}),
    ]


def test_a_cancelled_case_says_which_move_ended_it_and_where_it_went(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    p = Place(client, conn)
    survivor, merged, cancelled = p.report(), p.report("bob"), p.report()
    r = p.post("admin", f"/{merged}/merge", {"into": survivor, "note": "same lamp"})
    assert r.status_code == 200, r.text
    case = client.get(f"/api/v1/cases/{merged}", headers=p.headers["op"]).json()
    assert {k: case["ended"][k] for k in ("move", "into", "note")} == {
        "move": "merge",
        "into": survivor,
        "note": "same lamp",
    }
    assert case["history"][-1]["detail"]["note"] == "same lamp"
    assert p.post("bob", f"/{survivor}/comments", {"text": "mine was merged here"}).status_code == 201, (
        "the reporter of a merged report follows the surviving case"
    )
    kept = p.post("alice", f"/{survivor}/withdraw", {})
    assert kept.status_code == 409, "bob's report lives on in it"
    assert kept.json()["error"]["message"] == (
        f"other reports were merged into case {survivor}, so it stays open for them; add a comment"
    )
    assert (
        p.post("op", f"/{cancelled}/actions", {"action": "cancel", "reason": "no lamp there"}).status_code
        == 200
    )
    case = client.get(f"/api/v1/cases/{cancelled}", headers=p.headers["op"]).json()
    assert {k: case["ended"][k] for k in ("move", "into", "note")} == {
        "move": "cancel",
        "into": None,
        "note": "no lamp there",
    }
    assert client.get(f"/api/v1/cases/{survivor}", headers=p.headers["op"]).json()["ended"] is None
