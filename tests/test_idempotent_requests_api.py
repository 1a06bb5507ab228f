"""Retried POST requests over the API (in-process app, real database): for every route an integration or
a client on a flaky network would retry — a resident's report and an operator's case, a comment, a
withdrawal, a rating, the street office's call, a merge, a silence, and an admin's new organisation,
team and community — a retry with the same Idempotency-Key answers what the first request answered and
changes nothing, and the same key with another body is refused (422) saying so."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import API, act, app_client, login
from tests.support.factories import community

ADMIN, OPERATOR, RESIDENT = "ir-admin", "ir-op", "ir-resident"
REFUSED = "was used for a different request"


@pytest.fixture(scope="module")
def where(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return community(conn, "ir")


@pytest.fixture(scope="module")
def client(database_url: str, where: str) -> Iterator[TestClient]:
    users = {ADMIN: ("admin", ()), OPERATOR: ("operator", ()), RESIDENT: ("resident", (where,))}
    with app_client(database_url, users=users) as c:
        yield c


def retried(
    client: TestClient,
    user: str,
    path: str,
    body: dict[str, Any],
    other: dict[str, Any],
    count: Callable[[], int],
    made: int = 1,
) -> Any:
    """Send `body` with a new key, again, then `other` with the same key: the first adds `made` to
    `count`, the retry gets the same answer and adds nothing, `other` is refused and adds nothing."""
    headers = login(client, user) | {"Idempotency-Key": str(uuid.uuid4())}
    before = count()
    first = client.post(f"{API}{path}", json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    assert count() == before + made
    again = client.post(f"{API}{path}", json=body, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    refused = client.post(f"{API}{path}", json=other, headers=headers)
    assert refused.status_code == 422 and REFUSED in refused.json()["error"]["message"], refused.text
    assert count() == before + made
    return first.json()


def counter(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Callable[[], int]:
    def count() -> int:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])

    return count


def report(client: TestClient, where: str, user: str = RESIDENT) -> dict[str, Any]:
    body = {
        "community": where,
        "category": "flood",
        "description": "water in the stairwell",
        "building": "b1",
    }
    r = client.post(f"{API}/cases", json=body, headers=login(client, user))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_retried_report_opens_one_case_and_the_audit_says_it_was_replayed(
    client: TestClient, setup_conn: psycopg.Connection[Any], where: str
) -> None:
    cases = counter(setup_conn, "SELECT count(*) FROM cases WHERE community_id = %s", where)
    body = {"community": where, "category": "flood", "description": "manhole cover lifted", "building": "b2"}
    case = retried(client, RESIDENT, "/cases", body, body | {"building": "b3"}, cases)
    operator = {"community": where, "category": "safety", "description": "loose railing", "building": "b4"}
    retried(client, OPERATOR, "/cases", operator, operator | {"description": "loose railing, b4"}, cases)
    rows = setup_conn.execute(
        "SELECT outcome, target_id, details->>'replayed' FROM audit_log WHERE action = 'case.create' "
        "AND actor = %s AND community_id = %s ORDER BY id",
        (RESIDENT, where),
    ).fetchall()
    assert rows == [(201, str(case["id"]), "false"), (201, str(case["id"]), "true"), (422, None, None)]


def test_a_retried_comment_withdrawal_and_rating_happen_once(
    client: TestClient, setup_conn: psycopg.Connection[Any], where: str
) -> None:
    commented = report(client, where)
    events = counter(setup_conn, "SELECT count(*) FROM case_events WHERE case_id = %s", commented["id"])
    retried(
        client,
        RESIDENT,
        f"/cases/{commented['id']}/comments",
        {"text": "now ankle-deep"},
        {"text": "x"},
        events,
    )
    withdrawn = report(client, where)
    events = counter(setup_conn, "SELECT count(*) FROM case_events WHERE case_id = %s", withdrawn["id"])
    answer = retried(
        client,
        RESIDENT,
        f"/cases/{withdrawn['id']}/withdraw",
        {"reason": "it drained"},
        {"reason": "wrong place"},
        events,
    )
    assert answer["status"] == "cancelled"
    rated = report(client, where)
    for action, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "pumped out"})):
        assert act(client, OPERATOR, rated["id"], action, **fields).status_code == 200
    ratings = counter(setup_conn, "SELECT count(*) FROM case_ratings WHERE case_id = %s", rated["id"])
    answer = retried(client, RESIDENT, f"/cases/{rated['id']}/rating", {"stars": 5}, {"stars": 1}, ratings)
    assert answer == {"case_id": rated["id"], "stars": 5, "comment": None}
    second = client.post(
        f"{API}/cases/{rated['id']}/rating", json={"stars": 5}, headers=login(client, RESIDENT)
    )
    assert second.status_code == 409, "without the key a second rating is still refused"


def test_a_retried_call_and_merge_act_once(
    client: TestClient, setup_conn: psycopg.Connection[Any], where: str
) -> None:
    admin = login(client, ADMIN)
    org = f"ir-water-{uuid.uuid4().hex[:6]}"
    body = {"id": org, "kind": "utility", "name_en": "Water", "name_zh": "水务", "communities": [where]}
    assert client.post(f"{API}/organisations", json=body, headers=admin).status_code == 201
    case = report(client, where, OPERATOR)
    calls = counter(setup_conn, "SELECT count(*) FROM case_calls WHERE case_id = %s", case["id"])
    call = {"organisations": [org], "request": "check the main", "respond_within": "4wh"}
    answer = retried(
        client, OPERATOR, f"/cases/{case['id']}/calls", call, call | {"respond_within": "1wd"}, calls
    )
    assert [k["organisation"] for k in answer["calls"]] == [org]
    duplicate, survivor = report(client, where, OPERATOR), report(client, where, OPERATOR)
    merges = counter(
        setup_conn,
        "SELECT count(*) FROM case_events WHERE case_id = %s AND action = 'merged'",
        duplicate["id"],
    )
    answer = retried(
        client,
        OPERATOR,
        f"/cases/{duplicate['id']}/merge",
        {"into": survivor["id"]},
        {"into": survivor["id"], "note": "same leak"},
        merges,
    )
    assert answer["id"] == survivor["id"]


def test_a_retried_silence_and_admin_creations_make_one_record(
    client: TestClient, setup_conn: psycopg.Connection[Any], where: str
) -> None:
    reason = f"pump replacement {uuid.uuid4().hex[:6]}"
    ends = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    silences = counter(setup_conn, "SELECT count(*) FROM silences WHERE reason = %s", reason)
    silence = {"community_id": where, "ends_at": ends, "reason": reason}
    answer = retried(client, OPERATOR, "/silences", silence, silence | {"building": "b1"}, silences)
    assert answer["reason"] == reason
    tag = uuid.uuid4().hex[:6]
    for path, table, body in (
        ("/organisations", "organisations", {"id": f"ir-o-{tag}", "kind": "ngo", "name_en": "Helpers",
                                              "name_zh": "志愿者", "communities": [where]}),
        ("/teams", "teams", {"id": f"ir-t-{tag}", "name_en": "Crew", "name_zh": "班组", "communities": [where]}),
        ("/communities", "communities", {"id": f"ir-c-{tag}", "name": "Riverside"}),
    ):  # fmt: skip
        made = counter(setup_conn, f"SELECT count(*) FROM {table} WHERE id = %s", body["id"])
        answer = retried(client, ADMIN, path, body, body | {"name_zh": "别的名字"}, made)
        assert body["id"] in answer.values()
        taken = client.post(f"{API}{path}", json=body, headers=login(client, ADMIN))
        assert taken.status_code == 409, "a new request for the same id is still refused"
