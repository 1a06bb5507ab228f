"""The dashboard's read API (in-process app, real database): the device list with its state filter and
scope, the site summaries and plans, and a device's alerts and cases."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.domain.devices import DeviceKind
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.api import app_client, login

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url) as c:
        yield c


class World:
    """Two communities: `a` with one device in each state, `b` with one device; users of each role."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = f"da-{tag}", f"db-{tag}"
        self.users = {
            role: f"dash-{role}-{tag}"
            for role in ("operator", "manager", "resident", "manager_b", "resident2")
        }
        upsert_user(conn, self.users["operator"], "pw", "operator")
        upsert_user(conn, self.users["manager"], "pw", "manager", [self.a])
        upsert_user(conn, self.users["manager_b"], "pw", "manager", [self.b])
        self.resident_id = upsert_user(conn, self.users["resident"], "pw", "resident", [self.a])
        upsert_user(conn, self.users["resident2"], "pw", "resident", [self.a])
        device_store.ensure_community(conn, self.a, "Alpha Garden")
        device_store.ensure_community(conn, self.b)
        a = self.a
        self.devices = {
            "ok": (f"{a}-b1-sd01", DeviceKind.SMOKE_DETECTOR, "b1", "g1", 100.0, 120.0),
            "alerting": (f"{a}-b1-sd02", DeviceKind.SMOKE_DETECTOR, "b1", "g1", 125.0, 145.0),
            "offline": (f"{a}-g1-mh01", DeviceKind.MANHOLE, None, "g1", 70.0, 480.0),
            "low_battery": (f"{a}-g1-mh02", DeviceKind.MANHOLE, None, "g1", 300.0, 480.0),
            "never": (f"{a}-b2-gate1", DeviceKind.ACCESS_GATE, "b2", "g2", 560.0, 260.0),
            "unplaced": (f"{a}-g2-lamp01", DeviceKind.LAMPPOST, None, "g2", None, None),
        }
        for device_id, kind, building, grid, x, y in self.devices.values():
            device_store.upsert_device(
                conn, device_store.NewDevice(device_id, kind, a, building, grid, x, y), None
            )
        device_store.upsert_device(
            conn, device_store.NewDevice(f"{self.b}-b1-sd01", DeviceKind.SMOKE_DETECTOR, self.b, "b1"), None
        )
        seen = [
            device_store.StateUpdate(self.devices[k][0], NOW, 1, battery, None, None)
            for k, battery in (("ok", 90.0), ("alerting", 10.0), ("low_battery", 12.5), ("unplaced", None))
        ] + [
            device_store.StateUpdate(
                self.devices["offline"][0], NOW - timedelta(hours=1), 1, 80.0, None, None
            )
        ]
        device_store.record_seen(conn, seen)
        device_store.set_offline(conn, [self.devices["offline"][0]], NOW, "test")
        alerting = self.devices["alerting"][0]
        self.alert_id = self._alert(conn, alerting, "open")
        self._alert(conn, self.devices["ok"][0], "cleared")  # a cleared alert leaves the device ok
        self.alert_case = self._case(conn, alerting, "alert", None, "dispatched")
        conn.execute(
            "INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s)", (self.alert_case, self.alert_id)
        )
        self.own_report = self._case(conn, alerting, "resident", self.resident_id, "resolved")
        other = conn.execute(
            "SELECT id FROM users WHERE username = %s", (self.users["resident2"],)
        ).fetchone()
        assert other is not None
        self.neighbours_report = self._case(conn, alerting, "resident", int(other[0]), "dispatched")

    def _alert(self, conn: psycopg.Connection[Any], device: str, status: str) -> int:
        row = conn.execute(
            "INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, building, grid, "
            "severity, category, title, status, started_at, opened_at, cleared_at, explanation) "
            "VALUES ('smoke-alarm', 'v1', %s, %s, %s, 'b1', 'g1', 'critical', 'fire', 'Smoke alarm', %s, %s, %s, "
            "%s, %s) RETURNING id",
            (
                f"{device}-{uuid.uuid4().hex[:4]}",
                device,
                self.a,
                status,
                NOW,
                NOW,
                NOW if status == "cleared" else None,
                json.dumps({"readings": []}),
            ),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _case(
        self, conn: psycopg.Connection[Any], device: str, source: str, reporter: int | None, status: str
    ) -> int:
        row = conn.execute(
            "INSERT INTO cases (title, category, severity, status, source, subject, community_id, building, "
            "device_id, team, reporter_id) VALUES ('Smoke', 'fire', 'critical', %s, %s, %s, %s, 'b1', %s, "
            "'dash-api-test-team', %s) RETURNING id",
            (status, source, f"{device}-{uuid.uuid4().hex[:4]}", self.a, device, reporter),
        ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def world(setup_conn: psycopg.Connection[Any]) -> World:
    return World(setup_conn)


def test_each_device_has_one_state_and_the_list_filters_by_it(client: TestClient, world: World) -> None:
    op = login(client, world.users["operator"])
    r = client.get("/api/v1/devices", params={"community": world.a, "limit": 100}, headers=op)
    assert r.status_code == 200, r.text
    states = {d["id"]: d["state"] for d in r.json()}
    expected = {
        world.devices["ok"][0]: "ok",
        world.devices["alerting"][0]: "alerting",  # an open alert wins over its low battery
        world.devices["offline"][0]: "offline",
        world.devices["low_battery"][0]: "low_battery",
        world.devices["never"][0]: "offline",  # never heard from
        world.devices["unplaced"][0]: "ok",  # no battery at all
    }
    assert states == expected
    assert r.headers["x-total-count"] == str(len(expected))
    alerting = next(d for d in r.json() if d["state"] == "alerting")
    assert alerting["open_alerts"] == 1 and alerting["battery_pct"] == 10.0 and alerting["online"] is True

    for state in ("ok", "alerting", "offline", "low_battery"):
        r = client.get("/api/v1/devices", params={"community": world.a, "state": state}, headers=op)
        assert {d["id"] for d in r.json()} == {d for d, s in expected.items() if s == state}
    by_kind = client.get(
        "/api/v1/devices", params={"community": world.a, "kind": "manhole"}, headers=op
    ).json()
    assert {d["id"] for d in by_kind} == {world.devices["offline"][0], world.devices["low_battery"][0]}
    by_building = client.get("/api/v1/devices", params={"community": world.a, "building": "b1"}, headers=op)
    assert len(by_building.json()) == 2
    by_grid = client.get("/api/v1/devices", params={"community": world.a, "grid": "g2"}, headers=op)
    assert len(by_grid.json()) == 2


def test_the_device_list_pages_and_refuses_bad_filters(client: TestClient, world: World) -> None:
    op = login(client, world.users["operator"])
    pages = [
        client.get("/api/v1/devices", params={"community": world.a, "limit": 4, "offset": offset}, headers=op)
        for offset in (0, 4, 8)
    ]
    assert [len(p.json()) for p in pages] == [4, 2, 0]
    assert {p.headers["x-total-count"] for p in pages} == {"6"}
    ids = [d["id"] for p in pages for d in p.json()]
    assert len(set(ids)) == 6
    for params in ({"state": "burning"}, {"kind": "toaster"}, {"limit": 0}, {"limit": 1001}, {"offset": -1}):
        r = client.get("/api/v1/devices", params=params, headers=op)
        assert r.status_code == 422, params
        assert r.json()["error"]["message"].startswith("invalid request")
    assert client.get("/api/v1/devices").status_code == 401


def test_managers_and_residents_list_only_their_communities(client: TestClient, world: World) -> None:
    mine = client.get(
        "/api/v1/devices", params={"limit": 1000}, headers=login(client, world.users["manager"])
    )
    assert {d["community_id"] for d in mine.json()} == {world.a}
    other = client.get(
        "/api/v1/devices", params={"community": world.a}, headers=login(client, world.users["manager_b"])
    )
    assert other.json() == [] and other.headers["x-total-count"] == "0"
    resident = client.get("/api/v1/devices", headers=login(client, world.users["resident"]))
    assert {d["community_id"] for d in resident.json()} == {world.a}


def test_site_summaries_count_states_kinds_and_visible_open_cases(client: TestClient, world: World) -> None:
    sites = client.get("/api/v1/sites", headers=login(client, world.users["manager"])).json()
    assert [s["id"] for s in sites] == [world.a]
    (a,) = sites
    assert a["name"] == "Alpha Garden" and a["devices"] == 6
    assert a["states"] == {"ok": 2, "alerting": 1, "offline": 2, "low_battery": 1}
    assert a["kinds"] == {"smoke_detector": 2, "manhole": 2, "access_gate": 1, "lamppost": 1}
    assert a["open_cases"] == 2  # the alert case and the neighbour's report; the own report is resolved
    resident = client.get("/api/v1/sites", headers=login(client, world.users["resident"])).json()
    assert resident[0]["open_cases"] == 1  # not the neighbour's report
    everyone = client.get("/api/v1/sites", headers=login(client, world.users["operator"])).json()
    assert {world.a, world.b} <= {s["id"] for s in everyone}


def test_a_site_plan_has_boxes_around_buildings_and_grids(client: TestClient, world: World) -> None:
    r = client.get(f"/api/v1/sites/{world.a}", headers=login(client, world.users["manager"]))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["unplaced"] == 1 and len(plan["devices"]) == 6
    b1 = next(b for b in plan["buildings"] if b["building"] == "b1")
    assert (b1["grid"], b1["x0"], b1["y0"], b1["x1"], b1["y1"], b1["devices"]) == (
        "g1",
        100,
        120,
        125,
        145,
        2,
    )
    g1 = next(g for g in plan["grids"] if g["grid"] == "g1")
    assert (g1["x0"], g1["y0"], g1["x1"], g1["y1"], g1["devices"]) == (70, 120, 300, 480, 4)
    assert {d["id"]: d["state"] for d in plan["devices"]}[world.devices["low_battery"][0]] == "low_battery"
    for user, community in (("manager_b", world.a), ("resident", world.b)):
        r = client.get(f"/api/v1/sites/{community}", headers=login(client, world.users[user]))
        assert r.status_code == 404, user
    assert (
        client.get(f"/api/v1/sites/{world.b}", headers=login(client, world.users["manager_b"])).status_code
        == 200
    )
    missing = client.get("/api/v1/sites/nowhere", headers=login(client, world.users["operator"]))
    assert missing.status_code == 404 and "nowhere" in missing.json()["error"]["message"]


def test_a_devices_alerts_and_cases_respect_scope(client: TestClient, world: World) -> None:
    device = world.devices["alerting"][0]
    op = login(client, world.users["operator"])
    alerts = client.get(f"/api/v1/devices/{device}/alerts", headers=op).json()
    assert [(a["id"], a["status"], a["case_ids"]) for a in alerts] == [
        (world.alert_id, "open", [world.alert_case])
    ]
    cases = client.get(f"/api/v1/devices/{device}/cases", headers=op).json()
    assert {c["id"] for c in cases} == {world.alert_case, world.own_report, world.neighbours_report}
    resident = client.get(f"/api/v1/devices/{device}/cases", headers=login(client, world.users["resident"]))
    assert {c["id"] for c in resident.json()} == {world.alert_case, world.own_report}
    outsider = login(client, world.users["manager_b"])
    assert client.get(f"/api/v1/devices/{device}/alerts", headers=outsider).status_code == 404
    assert client.get(f"/api/v1/devices/{device}/cases", headers=outsider).status_code == 404


def test_a_battery_is_low_just_below_the_threshold_and_not_at_it(
    client: TestClient, setup_conn: psycopg.Connection[Any], world: World
) -> None:
    """The query states the threshold as a literal and the dashboards repeat it (20 %): devices either side
    of LOW_BATTERY_PCT show that the query keeps to it."""
    assert device_store.LOW_BATTERY_PCT == 20.0
    community = f"dc-{uuid.uuid4().hex[:6]}"
    device_store.ensure_community(setup_conn, community)
    batteries = {
        f"{community}-at": device_store.LOW_BATTERY_PCT,
        f"{community}-below": device_store.LOW_BATTERY_PCT - 0.1,
    }
    for device_id in batteries:
        device_store.upsert_device(
            setup_conn, device_store.NewDevice(device_id, DeviceKind.SMOKE_DETECTOR, community, "b1"), None
        )
    device_store.record_seen(
        setup_conn,
        [device_store.StateUpdate(d, NOW, 1, battery, None, None) for d, battery in batteries.items()],
    )
    r = client.get(
        "/api/v1/devices", params={"community": community}, headers=login(client, world.users["operator"])
    )
    assert {d["id"]: d["state"] for d in r.json()} == {
        f"{community}-at": "ok",
        f"{community}-below": "low_battery",
    }
