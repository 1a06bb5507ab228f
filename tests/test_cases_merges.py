"""One case per problem, through the API on the real database: a resident's report and an alert-raised
case about the same place and time are merged (either order), the reporter follows the surviving case,
is notified when it is resolved (a case event the outbox announces) and may rate it; operators merge and
split by hand, and a split gives the merged case back its status and alerts."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.cases import config, intake
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.engine.schema import Rule
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.api import act, app_client, login
from tests.support.factories import community, device, threshold_rule

ROUTING = """
default_team: mg-desk
merge: {auto: true, window: 1h}
verification: [{normal_for: 0s}]
"""


@pytest.fixture(scope="module")
def routing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("merges") / "routing.yaml"
    path.write_text(ROUTING)
    return path


@pytest.fixture(scope="module")
def client(database_url: str, routing: Path) -> Iterator[TestClient]:
    users = {"mg-op": ("operator", ()), "mg-admin": ("admin", ())}
    with app_client(database_url, users=users, routing_file=routing) as c:
        yield c


def place(conn: psycopg.Connection[Any]) -> tuple[str, DeviceRef, str, str]:
    where = community(conn, "mg")
    lamp = device(conn, where, "lp1", DeviceKind.LAMPPOST, building="b3")
    alice, bob = f"{where}-alice", f"{where}-bob"
    upsert_user(conn, alice, "pw", "resident", [where])
    upsert_user(conn, bob, "pw", "resident", [where])
    return where, lamp, alice, bob


def lamp_rule(category: str = "lighting") -> Rule:
    return threshold_rule(
        f"mg-{category}",
        title="Lamp dark",
        kinds=["lamppost"],
        severity="minor",
        category=category,
        when="power_w < 1",
        team="lighting",
    )


def alert_case(
    conn: psycopg.Connection[Any], routing: Path, lamp: DeviceRef, at: datetime, category: str = "lighting"
) -> int:
    a = AlertOpened(lamp_rule(category), lamp, lamp.id, at, at, {"readings": []})
    case_id = intake.open_alert_case(conn, a, config.load(routing), a.opened_at)
    assert case_id is not None
    return case_id


def report(client: TestClient, user: str, where: str, **fields: Any) -> dict[str, Any]:
    body = {"community": where, "category": "lighting", "description": "lamp dark at night"} | fields
    r = client.post("/api/v1/cases", json=body, headers=login(client, user))
    assert r.status_code == 201, r.text
    return dict(r.json())


def get(client: TestClient, user: str, case_id: int) -> Any:
    return client.get(f"/api/v1/cases/{case_id}", headers=login(client, user))


def test_a_report_about_an_alerting_device_joins_its_case_and_the_reporter_follows_it(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    where, lamp, alice, bob = place(conn)
    surviving = alert_case(conn, routing, lamp, datetime.now(UTC) - timedelta(minutes=5))
    mine = report(client, alice, where, device_id=lamp.id)
    assert (mine["status"], mine["cancel_reason"], mine["merged_into"]) == (
        "cancelled",
        f"merged into #{surviving}",
        surviving,
    )
    last = mine["history"][-1]
    assert (last["action"], last["actor"], last["from_status"], last["to_status"]) == (
        "merged",
        "system",
        "dispatched",
        "cancelled",
    )
    assert last["note"] == f"merged into #{surviving}: same device {lamp.id}", "in English for the API"
    assert (last["detail"]["why"], last["detail"]["note"]) == (
        {"code": "same_device", "device_id": lamp.id},
        None,
    )
    assert (mine["ended"]["move"], mine["ended"]["into"]) == ("merge", surviving)
    record = conn.execute(
        "SELECT surviving_case_id, merged_by, merged_from_status, split_at FROM case_merges WHERE merged_case_id = %s",
        (mine["id"],),
    ).fetchall()
    assert record == [(surviving, "system", "dispatched", None)]

    seen = get(client, alice, surviving)
    assert seen.status_code == 200, "the reporter sees the case their report went into"
    assert [m["case_id"] for m in seen.json()["merged_cases"]] == [mine["id"]]
    received = seen.json()["history"][-1]
    assert (received["action"], received["detail"]["source"]) == ("merge_received", "resident")
    listed = {c["id"] for c in client.get("/api/v1/cases", headers=login(client, alice)).json()}
    assert {mine["id"], surviving} <= listed
    early = client.post(f"/api/v1/cases/{surviving}/rating", json={"stars": 4}, headers=login(client, alice))
    assert early.status_code == 409

    for action, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "new ballast"})):
        assert act(client, "mg-op", surviving, action, **fields).status_code == 200
    history = get(client, "mg-op", surviving).json()["history"]
    told = [h for h in history if h["action"] == "reporter_notified"]
    assert len(told) == 1 and told[0]["detail"]["merged_case_id"] == mine["id"]
    assert told[0]["detail"]["rate"] == f"/api/v1/cases/{surviving}/rating"
    outbox = conn.execute(
        "SELECT o.payload->>'action' FROM notification_outbox o JOIN case_events e ON e.id = o.case_event_id "
        "WHERE e.case_id = %s AND e.action = 'reporter_notified'",
        (surviving,),
    ).fetchall()
    assert outbox == [("reporter_notified",)], "the outbox trigger announces it like every case event"
    rated = client.post(
        f"/api/v1/cases/{surviving}/rating",
        json={"stars": 5, "comment": "fast"},
        headers=login(client, alice),
    )
    assert rated.status_code == 201, rated.text
    # an alert-raised case: a neighbour may rate it too, as before
    assert (
        client.post(
            f"/api/v1/cases/{surviving}/rating", json={"stars": 3}, headers=login(client, bob)
        ).status_code
        == 201
    )


def test_an_alert_after_reports_takes_in_those_about_the_same_place_and_time(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    where, lamp, alice, bob = place(conn)
    same_building = report(client, alice, where, building="b3")
    other_category = report(client, bob, where, building="b3", category="noise")
    other_building = report(client, bob, where, building="b9")
    assert same_building["status"] == "dispatched", "no alert case yet"
    surviving = alert_case(conn, routing, lamp, datetime.now(UTC))
    statuses = {
        c: get(client, "mg-op", c).json()["status"]
        for c in (same_building["id"], other_category["id"], other_building["id"])
    }
    assert statuses == {
        same_building["id"]: "cancelled",
        other_category["id"]: "dispatched",
        other_building["id"]: "dispatched",
    }
    assert [m["case_id"] for m in get(client, "mg-op", surviving).json()["merged_cases"]] == [
        same_building["id"]
    ]
    # a report outside the window stays on its own
    old = report(client, alice, where, building="b5")
    conn.execute("UPDATE cases SET created_at = created_at - interval '3 hours' WHERE id = %s", (old["id"],))
    lamp2 = DeviceRef(f"{where}-lp2", DeviceKind.LAMPPOST, where, "b5", "g1")
    device_store.upsert_device(conn, device_store.NewDevice(lamp2.id, lamp2.kind, where, building="b5"), None)
    alert_case(conn, routing, lamp2, datetime.now(UTC))
    assert get(client, "mg-op", old["id"]).json()["status"] == "dispatched"


def test_operators_merge_and_split_by_hand(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    where, lamp, alice, _ = place(conn)
    surviving = alert_case(conn, routing, lamp, datetime.now(UTC) - timedelta(hours=5))
    mine = report(client, alice, where, building="b7", description="pole leaning")
    assert mine["status"] == "dispatched"
    assert act(client, "mg-op", mine["id"], "acknowledge").status_code == 200
    merge = client.post(
        f"/api/v1/cases/{mine['id']}/merge",
        json={"into": surviving, "note": "same pole"},
        headers=login(client, "mg-op"),
    )
    assert merge.status_code == 200, merge.text
    assert merge.json()["id"] == surviving
    merged = get(client, "mg-op", mine["id"]).json()
    assert (merged["status"], merged["cancel_reason"]) == ("cancelled", f"merged into #{surviving}")
    assert merged["history"][-1]["note"] == f"merged into #{surviving}: same pole"
    assert merged["history"][-1]["actor"] == "mg-op"
    again = client.post(
        f"/api/v1/cases/{mine['id']}/merge", json={"into": surviving}, headers=login(client, "mg-op")
    )
    assert again.status_code == 409 and "only open cases are merged" in again.json()["error"]["message"]
    assert (
        client.post(
            f"/api/v1/cases/{surviving}/merge", json={"into": surviving}, headers=login(client, "mg-op")
        ).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/cases/{mine['id']}/split", json={}, headers=login(client, alice)).status_code
        == 403
    )

    split = client.post(
        f"/api/v1/cases/{mine['id']}/split",
        json={"note": "different pole"},
        headers=login(client, "mg-admin"),
    )
    assert split.status_code == 200, split.text
    back = split.json()
    assert (back["status"], back["cancel_reason"], back["merged_into"]) == ("acknowledged", None, None)
    assert (back["history"][-1]["action"], back["history"][-1]["to_status"]) == ("split", "acknowledged")
    assert conn.execute(
        "SELECT split_by FROM case_merges WHERE merged_case_id = %s", (mine["id"],)
    ).fetchall() == [("mg-admin",)]
    assert get(client, "mg-op", surviving).json()["merged_cases"] == []
    assert get(client, alice, surviving).status_code == 200, "an alert-raised case of her community"
    twice = client.post(f"/api/v1/cases/{mine['id']}/split", json={}, headers=login(client, "mg-admin"))
    assert twice.status_code == 409 and "is not merged" in twice.json()["error"]["message"]
    assert (
        client.post("/api/v1/cases/999999999/split", json={}, headers=login(client, "mg-admin")).status_code
        == 404
    )


def test_a_split_does_not_revive_a_case_cancelled_for_another_reason_after_its_merge(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    """No hub code cancels a merged case again, but a database carried over from an older version
    may hold one that was: its last status change is not the merge, so a split must leave it cancelled."""
    where, lamp, alice, _ = place(conn)
    surviving = alert_case(conn, routing, lamp, datetime.now(UTC) - timedelta(hours=5))
    mine = report(client, alice, where, building="b7", description="pole leaning")
    merged = client.post(
        f"/api/v1/cases/{mine['id']}/merge", json={"into": surviving}, headers=login(client, "mg-op")
    )
    assert merged.status_code == 200, merged.text
    conn.execute(
        "INSERT INTO case_events (case_id, actor, action, move, from_status, to_status, note) "
        "VALUES (%s, 'old-hub', 'cancelled', 'cancel', 'cancelled', 'cancelled', 'duplicate of a phone call')",
        (mine["id"],),
    )

    split = client.post(f"/api/v1/cases/{mine['id']}/split", json={}, headers=login(client, "mg-admin"))

    assert split.status_code == 409, split.text
    assert "for another reason after its merge" in split.json()["error"]["message"]
    assert get(client, "mg-op", mine["id"]).json()["status"] == "cancelled"


def test_a_split_takes_the_merged_cases_alerts_back(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    where, lamp, _, _ = place(conn)
    lamp2 = DeviceRef(f"{where}-lp2", DeviceKind.LAMPPOST, where, "b4", "g1")
    device_store.upsert_device(conn, device_store.NewDevice(lamp2.id, lamp2.kind, where, building="b4"), None)
    first = alert_case(conn, routing, lamp, datetime.now(UTC) - timedelta(hours=3))
    second = alert_case(
        conn, routing, lamp2, datetime.now(UTC) - timedelta(hours=3), category="infrastructure"
    )
    r = client.post(f"/api/v1/cases/{second}/merge", json={"into": first}, headers=login(client, "mg-op"))
    assert r.status_code == 200
    assert sorted(a["subject"] for a in r.json()["alerts"]) == sorted([lamp.id, lamp2.id])
    client.post(f"/api/v1/cases/{second}/split", json={}, headers=login(client, "mg-op"))
    assert [a["subject"] for a in get(client, "mg-op", first).json()["alerts"]] == [lamp.id]
    assert [a["subject"] for a in get(client, "mg-op", second).json()["alerts"]] == [lamp2.id]
    other = f"mg-{uuid.uuid4().hex[:8]}"
    device_store.ensure_community(conn, other)
    elsewhere = DeviceRef(f"{other}-lp1", DeviceKind.LAMPPOST, other, "b1", "g1")
    device_store.upsert_device(
        conn, device_store.NewDevice(elsewhere.id, elsewhere.kind, other, building="b1"), None
    )
    far = alert_case(conn, routing, elsewhere, datetime.now(UTC))
    r = client.post(f"/api/v1/cases/{far}/merge", json={"into": first}, headers=login(client, "mg-op"))
    assert r.status_code == 409 and "different communities" in r.json()["error"]["message"]


def test_a_report_follows_its_case_into_a_correlated_group(
    client: TestClient, conn: psycopg.Connection[Any], routing: Path
) -> None:
    where, lamp, alice, _ = place(conn)
    member_case = alert_case(conn, routing, lamp, datetime.now(UTC))
    mine = report(client, alice, where, device_id=lamp.id)
    assert mine["merged_into"] == member_case
    lamp2 = DeviceRef(f"{where}-lp2", DeviceKind.LAMPPOST, where, "b8", "g1")
    device_store.upsert_device(conn, device_store.NewDevice(lamp2.id, lamp2.kind, where, building="b8"), None)
    group_case = alert_case(conn, routing, lamp2, datetime.now(UTC), category="infrastructure")
    [(member_alert,)] = conn.execute(
        "SELECT id FROM alerts WHERE subject = %s AND status = 'open'", (lamp.id,)
    ).fetchall()
    intake.absorb(conn, group_case, member_alert, datetime.now(UTC))
    assert get(client, "mg-op", member_case).json()["status"] == "cancelled"
    assert get(client, "mg-op", mine["id"]).json()["merged_into"] == group_case
    assert get(client, alice, group_case).status_code == 200
    for action, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "feeder fixed"})):
        assert act(client, "mg-op", group_case, action, **fields).status_code == 200
    told = [
        h for h in get(client, "mg-op", group_case).json()["history"] if h["action"] == "reporter_notified"
    ]
    assert [t["detail"]["merged_case_id"] for t in told] == [mine["id"]]
