"""The audit log through the API (in-process app, real database): reads of access events and case
actions leave rows with actor, target, community and outcome — refusals included — and only admins
read the log."""

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.devices.service import register
from hub.jobs.maintenance import RetentionPolicy, run_retention
from hub.settings import Settings
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support import factories
from tests.support.api import API, act, app_client, login

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
ROUTING = """
default_team: au-desk
sla:
  - {ack_within: 2h, resolve_within: 2d}
"""
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)  # inside every retention


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(database_url, routing=ROUTING, mqtt_auth_dir=tmp_path_factory.mktemp("auth")) as c:
        yield c


def unique(prefix: str) -> str:
    """Every name is new: the session database is shared by every test module."""
    return f"au-{prefix}-{uuid.uuid4().hex[:8]}"


def person(conn: psycopg.Connection[Any], role: str, *communities: str) -> str:
    name = unique(role)
    upsert_user(conn, name, "pw", role, list(communities))
    return name


def gate(conn: psycopg.Connection[Any], community: str, events: int = 0, **where: Any) -> str:
    """A registered gate in `community` with `events` access events a minute apart before T0."""
    device_store.ensure_community(conn, community)
    device_id = unique("gate")
    [result] = register(conn, [{"id": device_id, "kind": "access_gate", "community": community, **where}])
    assert result.status == "created", result
    for n in range(events):
        add_event(
            conn, device_id, community, T0 - timedelta(minutes=n), n, "denied" if n % 3 == 0 else "granted"
        )
    return device_id


def add_event(
    conn: psycopg.Connection[Any], device_id: str, community: str, at: datetime, seq: int, result: str
) -> None:
    conn.execute(
        "INSERT INTO access_events (time, device_id, seq, received_at, community_id, result, method, direction,"
        " person_pseudonym) VALUES (%s, %s, %s, now(), %s, %s, 'card', 'in', %s)",
        (at, device_id, seq, community, result, f"pseud-{seq}"),
    )


def read(client: TestClient, user: str, device_id: str, **params: Any) -> Any:
    return client.get(f"{API}/devices/{device_id}/access-events", params=params, headers=login(client, user))


def rows(conn: psycopg.Connection[Any], **where: Any) -> list[dict[str, Any]]:
    """Audit rows matching every column given, oldest first."""
    clause = " AND ".join(f"{column} = %({column})s" for column in where)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(f"SELECT * FROM audit_log WHERE {clause} ORDER BY id", where).fetchall()


WINDOW = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(minutes=1)).isoformat()}


# -- reading access events ------------------------------------------------------------------------------


def test_a_read_gives_pseudonyms_newest_first_and_leaves_an_audit_row_with_actor_and_count(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = unique("c")
    device_id = gate(setup_conn, community, events=5)
    operator = person(setup_conn, "operator")

    r = read(client, operator, device_id, **WINDOW)

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["device_id"], body["community_id"], body["next_cursor"]) == (device_id, community, None)
    assert [e["person_pseudonym"] for e in body["events"]] == [f"pseud-{n}" for n in range(5)]
    assert set(body["events"][0]) == {"time", "result", "method", "direction", "person_pseudonym"}
    [row] = rows(setup_conn, actor=operator)
    assert row["actor_id"] is not None and row["role"] == "operator"
    assert (row["action"], row["target_type"], row["target_id"]) == (
        "access_events.read",
        "device",
        device_id,
    )
    assert (row["community_id"], row["outcome"], row["client_addr"]) == (community, 200, "testclient")
    assert row["details"]["rows"] == 5
    assert datetime.fromisoformat(row["details"]["from"]) == T0 - timedelta(hours=1)
    assert datetime.fromisoformat(row["details"]["to"]) == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("role", "own_community", "expected"),
    [
        ("admin", False, 200),
        ("operator", False, 200),
        ("manager", True, 200),
        ("manager", False, 404),
        ("resident", True, 403),
        ("integration", False, 403),
    ],
)
def test_who_may_read_access_events_and_every_answer_is_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any], role: str, own_community: bool, expected: int
) -> None:
    community = unique("c")
    device_id = gate(setup_conn, community, events=2)
    user = person(setup_conn, role, community if own_community else unique("elsewhere"))

    r = read(client, user, device_id, **WINDOW)

    assert r.status_code == expected, r.text
    if expected == 200:
        assert len(r.json()["events"]) == 2
    else:
        assert "events" not in r.text and "pseud-" not in r.text
    [row] = rows(setup_conn, actor=user)
    assert (row["role"], row["outcome"], row["target_id"]) == (role, expected, device_id)
    assert row["community_id"] == community, "a refusal names the community that was asked about"
    assert row["details"].get("rows") == (2 if expected == 200 else None)


def test_a_manager_of_another_community_gets_404_like_an_absent_device_and_the_probe_is_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    device_id = gate(setup_conn, unique("c"), events=1)
    manager = person(setup_conn, "manager", unique("own"))

    theirs = read(client, manager, device_id)
    absent = read(client, manager, "au-no-such-gate")

    assert theirs.status_code == absent.status_code == 404
    assert theirs.json()["error"]["message"] == f"no device {device_id} in your communities"
    probe, missing = rows(setup_conn, actor=manager)
    assert (probe["outcome"], probe["target_id"]) == (404, device_id)
    assert probe["details"]["refusal"] == f"no device {device_id} in your communities"
    assert (missing["outcome"], missing["target_id"], missing["community_id"]) == (
        404,
        "au-no-such-gate",
        None,
    )


def test_pages_follow_the_cursor_without_gaps_or_repeats_and_each_page_is_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = unique("c")
    device_id = gate(setup_conn, community, events=7)
    for seq in (100, 101):  # two events in the same microsecond: the cursor must tell them apart
        add_event(setup_conn, device_id, community, T0 - timedelta(minutes=2), seq, "granted")
    operator = person(setup_conn, "operator")

    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(10):
        page = read(client, operator, device_id, limit=3, **WINDOW, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        seen += [(e["time"], e["person_pseudonym"]) for e in page.json()["events"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) == 9
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
    assert [r["details"]["rows"] for r in rows(setup_conn, actor=operator)] == [3, 3, 3]


def test_result_and_range_filter_the_events(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    device_id = gate(setup_conn, unique("c"), events=7)  # seq 0, 3, 6 denied

    denied = read(client, "au-admin", device_id, result="denied", **WINDOW).json()["events"]
    recent = read(
        client, "au-admin", device_id, **{"from": (T0 - timedelta(minutes=1)).isoformat(), "to": WINDOW["to"]}
    ).json()["events"]
    default = read(client, "au-admin", device_id).json()

    assert [e["person_pseudonym"] for e in denied] == ["pseud-0", "pseud-3", "pseud-6"]
    assert {e["result"] for e in denied} == {"denied"}
    assert [e["person_pseudonym"] for e in recent] == ["pseud-0", "pseud-1"]
    assert default["events"] == [], "by default the last 24 hours, and T0 lies two days back"
    span = datetime.fromisoformat(default["to"]) - datetime.fromisoformat(default["from"])
    assert span == timedelta(hours=24)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"result": "maybe"}, "query.result: Input should be 'granted' or 'denied'"),
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": 1001}, "query.limit: Input should be less than or equal to 1000"),
        ({"from": "yesterday"}, "query.from: Input should be a valid datetime"),
        ({"from": "2026-11-28T10:00:00Z", "to": "2026-11-28T09:00:00Z"}, "`to` must be later than `from`"),
        ({"to": "0001-01-01T00:00:00+14:00"}, "between the years 1 and 9999"),
        ({"cursor": "page-2"}, "`cursor` is not one this API gave out"),
        ({"cursor": "999999999999999999.1"}, "`cursor` is not one this API gave out"),
        ({"cursor": "1.99999999999999999999"}, "`cursor` is not one this API gave out"),
    ],
)
def test_bad_access_event_queries_are_422_with_a_clear_message_and_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any], params: dict[str, Any], message: str
) -> None:
    device_id = gate(setup_conn, unique("c"))
    operator = person(setup_conn, "operator")

    r = read(client, operator, device_id, **params)

    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
    [row] = rows(setup_conn, actor=operator)
    assert row["outcome"] == 422 and message.split(": ")[-1] in row["details"]["refusal"]


def test_a_device_other_than_a_gate_has_no_access_events(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = factories.community(setup_conn, "au-c")
    detector = unique("sd")
    register(setup_conn, [{"id": detector, "kind": "smoke_detector", "community": community}])

    r = read(client, "au-admin", detector)

    assert r.status_code == 200 and r.json()["events"] == []


# -- case actions ---------------------------------------------------------------------------------------


def open_case(client: TestClient, community: str, **extra: Any) -> dict[str, Any]:
    body = {
        "community": community,
        "category": "infrastructure",
        "description": "cracked kerb",
        "building": "b1",
    }
    r = client.post(f"{API}/cases", json=body | extra, headers=login(client, "au-op"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def case_rows(conn: psycopg.Connection[Any], case_id: int) -> list[dict[str, Any]]:
    return rows(conn, target_type="case", target_id=str(case_id))


@pytest.fixture(scope="module", autouse=True)
def staff(setup_conn: psycopg.Connection[Any]) -> None:
    upsert_user(setup_conn, "au-admin", "pw", "admin")
    upsert_user(setup_conn, "au-op", "pw", "operator")


def test_creating_a_case_is_audited_with_the_new_id_and_no_photo(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = factories.community(setup_conn, "au-c")
    photo = base64.b64encode(PNG).decode()

    case = open_case(client, community, photo=photo)

    [row] = case_rows(setup_conn, case["id"])
    assert (row["actor"], row["action"], row["outcome"], row["community_id"]) == (
        "au-op",
        "case.create",
        201,
        community,
    )
    assert photo[:40] not in json.dumps(row["details"]) and "cracked kerb" not in json.dumps(row["details"])


def test_accepted_and_refused_actions_are_audited_with_their_outcome(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = factories.community(setup_conn, "au-c")
    case_id = open_case(client, community)["id"]
    outsider = person(setup_conn, "manager", unique("elsewhere"))
    insider = person(setup_conn, "manager", community)

    answers = [
        act(client, insider, case_id, "acknowledge").status_code,
        act(client, insider, case_id, "close").status_code,  # a manager is no verifier: 403
        act(client, outsider, case_id, "start").status_code,  # not in their communities: 404
        act(client, "au-op", case_id, "resolve").status_code,  # no note: 422
        act(client, "au-op", case_id, "reopen").status_code,  # acknowledged cannot become reopened: 409
        act(client, "au-op", case_id, "start").status_code,
    ]

    assert answers == [200, 403, 404, 422, 409, 200]
    audited = [
        (r["actor"], r["action"], r["outcome"], r["community_id"]) for r in case_rows(setup_conn, case_id)[1:]
    ]
    assert audited == [
        (insider, "case.acknowledge", 200, community),
        (insider, "case.close", 403, community),
        (outsider, "case.start", 404, community),
        ("au-op", "case.resolve", 422, community),
        ("au-op", "case.reopen", 409, community),
        ("au-op", "case.start", 200, community),
    ]
    first, *_, last = case_rows(setup_conn, case_id)[1:]
    assert (first["details"]["from_status"], first["details"]["to_status"]) == ("dispatched", "acknowledged")
    assert (last["details"]["from_status"], last["details"]["to_status"]) == ("acknowledged", "in_progress")
    refused = case_rows(setup_conn, case_id)[5]
    assert refused["details"]["refusal"].startswith("a case that is acknowledged cannot become reopened")
    assert "to_status" not in refused["details"]


def test_a_request_the_body_check_refuses_is_audited_too(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = factories.community(setup_conn, "au-c")
    case_id = open_case(client, community)["id"]

    r = act(client, "au-op", case_id, "dance")

    assert r.status_code == 422
    [row] = case_rows(setup_conn, case_id)[1:]
    assert (row["action"], row["outcome"], row["community_id"]) == ("case.action", 422, community)
    assert row["details"]["refusal"].startswith("body.action.str-enum[Action]: Input should be 'acknowledge'")


def test_merge_split_evidence_claim_and_rating_are_audited(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = factories.community(setup_conn, "au-c")
    resident = person(setup_conn, "resident", community)
    first = open_case(client, community)["id"]
    second = open_case(client, community)["id"]
    admin = login(client, "au-admin")

    merged = client.post(f"{API}/cases/{second}/merge", json={"into": first}, headers=admin)
    split = client.post(f"{API}/cases/{second}/split", json={}, headers=admin)
    photo = client.post(
        f"{API}/cases/{first}/attachments", json={"photo": base64.b64encode(PNG).decode()}, headers=admin
    )
    rating = client.post(f"{API}/cases/{first}/rating", json={"stars": 5}, headers=login(client, resident))
    claim = client.post(f"{API}/cases/next", headers=admin)  # the admin is in no team

    assert [merged.status_code, split.status_code, photo.status_code] == [200, 200, 201]
    assert (rating.status_code, claim.status_code) == (404, 404)  # not the reporter's case; no team
    by_second = [(r["action"], r["outcome"], r["details"]) for r in case_rows(setup_conn, second)[1:]]
    assert by_second == [
        ("case.merge", 200, {"into": first}),
        ("case.split", 200, {"was_merged_into": first}),
    ]
    evidence, rated = case_rows(setup_conn, first)[1:]
    assert (evidence["action"], evidence["outcome"], evidence["details"]["size"]) == (
        "case.attach_evidence",
        201,
        len(PNG),
    )
    assert (rated["actor"], rated["action"], rated["outcome"]) == (resident, "case.rate", 404)
    [claimed] = rows(setup_conn, actor="au-admin", action="case.claim")
    assert claimed["outcome"] == 404 and "no team" in claimed["details"]["refusal"]


def test_every_case_write_route_is_audited(client: TestClient, setup_conn: psycopg.Connection[Any]) -> None:
    """A new case route that forgets the audit dependency fails here: an integration account is refused
    by each, and each refusal must leave a row."""
    community = factories.community(setup_conn, "au-c")
    case_id = open_case(client, community)["id"]
    integration = person(setup_conn, "integration")
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    writes = [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith(f"{API}/cases") and method in ("post", "put", "patch", "delete")
    ]
    assert len(writes) >= 7

    for n, (method, route) in enumerate(writes, start=1):
        path = route.replace("{case_id}", str(case_id))
        r = client.request(method, path, json={}, headers=login(client, integration))
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        audited = rows(setup_conn, actor=integration)
        assert len(audited) == n, f"{method} {path} wrote no audit row"
        assert (audited[-1]["outcome"], audited[-1]["role"]) == (r.status_code, "integration"), path


def test_an_action_and_its_audit_row_commit_together(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    """If the row cannot be written, the action does not happen either."""
    community = factories.community(setup_conn, "au-c")
    case_id = open_case(client, community)["id"]
    victim = person(setup_conn, "operator")
    login(client, victim)
    setup_conn.execute(
        f"ALTER TABLE audit_log ADD CONSTRAINT au_refuse_victim CHECK (actor <> '{victim}') NOT VALID"
    )
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            act(client, victim, case_id, "acknowledge")
    finally:
        setup_conn.execute("ALTER TABLE audit_log DROP CONSTRAINT au_refuse_victim")

    after = client.get(f"{API}/cases/{case_id}", headers=login(client, "au-op")).json()
    assert after["status"] == "dispatched"
    assert [e["action"] for e in after["history"]] == ["opened", "dispatched"]


def test_the_log_is_append_only(setup_conn: psycopg.Connection[Any]) -> None:
    actor = unique("rewriter")
    setup_conn.execute(
        "INSERT INTO audit_log (actor, role, action, target_type, outcome) VALUES (%s, 'admin', 'case.create',"
        " 'case', 403)",
        (actor,),
    )

    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        setup_conn.execute("UPDATE audit_log SET outcome = 201 WHERE actor = %s", (actor,))
    assert [r["outcome"] for r in rows(setup_conn, actor=actor)] == [403]


# -- reading the log ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "manager", "resident", "integration"])
def test_only_admins_read_the_audit_log(
    client: TestClient, setup_conn: psycopg.Connection[Any], role: str
) -> None:
    user = person(setup_conn, role, unique("c"))

    r = client.get(f"{API}/audit", headers=login(client, user))

    assert r.status_code == 403
    assert r.json()["error"]["message"] == "this needs one of the roles: admin"
    assert client.get(f"{API}/audit").status_code == 401
    assert client.get(f"{API}/audit", headers=login(client, "au-admin")).status_code == 200


def test_the_log_filters_and_pages_newest_first(
    client: TestClient, setup_conn: psycopg.Connection[Any]
) -> None:
    community = unique("c")
    device_id = gate(setup_conn, community, events=1)
    reader = person(setup_conn, "operator")
    for _ in range(5):
        assert read(client, reader, device_id).status_code == 200
    assert read(client, reader, device_id, result="maybe").status_code == 422
    case_id = open_case(client, community)["id"]
    admin = login(client, "au-admin")

    def listed(**params: Any) -> list[dict[str, Any]]:
        r = client.get(f"{API}/audit", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return list(r.json()["entries"])

    by_reader = listed(actor=reader)
    assert [e["outcome"] for e in by_reader] == [422, 200, 200, 200, 200, 200]
    assert [e["id"] for e in by_reader] == sorted((e["id"] for e in by_reader), reverse=True)
    assert {e["action"] for e in listed(community=community)} == {"access_events.read", "case.create"}
    assert [e["target_id"] for e in listed(target_type="case", target_id=str(case_id))] == [str(case_id)]
    assert len(listed(action="access_events.read", target_type="device", target_id=device_id)) == 6
    middle = by_reader[2]["time"]
    assert [e["id"] for e in listed(actor=reader, to=middle)] == [e["id"] for e in by_reader[3:]]
    assert [e["id"] for e in listed(actor=reader, **{"from": middle})] == [e["id"] for e in by_reader[:3]]
    assert listed(actor=reader, **{"from": "2000-01-01T00:00:00", "to": "2000-01-02T00:00:00"}) == []

    paged: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"actor": reader, "limit": 4} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{API}/audit", params=params, headers=admin).json()
        paged += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [e["id"] for e in by_reader]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        (
            {"target_type": "building"},
            "query.target_type: Input should be 'case', 'device', 'user', 'team', 'community', 'rule_file', "
            "'silence', 'subscription', 'organisation' or 'adapter'",
        ),
        ({"from": "soon"}, "query.from: Input should be a valid datetime"),
        ({"from": "2026-11-28T10:00:00Z", "to": "2026-11-28T10:00:00Z"}, "`to` must be later than `from`"),
        ({"from": "9999-12-31T23:59:59-14:00"}, "between the years 1 and 9999"),
        ({"cursor": "abc.def"}, "`cursor` is not one this API gave out"),
    ],
)
def test_bad_audit_queries_are_422_with_a_clear_message(
    client: TestClient, params: dict[str, Any], message: str
) -> None:
    r = client.get(f"{API}/audit", params=params, headers=login(client, "au-admin"))

    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]


def test_retention_deletes_audit_rows_past_their_age(setup_conn: psycopg.Connection[Any]) -> None:
    actor = unique("old")
    now = datetime.now(UTC)
    for age in (401, 399):
        setup_conn.execute(
            "INSERT INTO audit_log (time, actor, role, action, target_type, outcome)"
            " VALUES (%s, %s, 'admin', 'case.create', 'case', 201)",
            (now - timedelta(days=age), actor),
        )

    done = run_retention(setup_conn, RetentionPolicy.from_settings(Settings(environment="test")), now)

    assert done is not None and done["audit_log"] >= 1
    assert [r["time"] for r in rows(setup_conn, actor=actor)] == [now - timedelta(days=399)]
