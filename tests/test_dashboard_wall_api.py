"""The API behind the control room's wall screen (in-process app, real database): whether a case's
alarm is still active, a device in alarm while its case is open and the case it links to, a community's
site-plan image (who may upload and read it, what is refused), and the KPI trend per week or month."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.devices.plan_image import MAX_PLAN_IMAGE_BYTES
from hub.domain.devices import DeviceKind
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.api import app_client, login
from tests.support.images import png

API = "/api/v1"


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url) as c:
        yield c


SHANGHAI = ZoneInfo("Asia/Shanghai")


class Wall:
    """Community `a`: a detector whose alert cleared while its case is still open, one with an open
    alert and case, one without either; community `b` for a manager of elsewhere."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = f"wa-{tag}", f"wb-{tag}"
        self.users = {r: f"wall-{r}-{tag}" for r in ("admin", "operator", "manager", "manager_b", "resident")}
        upsert_user(conn, self.users["admin"], "pw", "admin")
        upsert_user(conn, self.users["operator"], "pw", "operator")
        upsert_user(conn, self.users["manager"], "pw", "manager", [self.a])
        upsert_user(conn, self.users["manager_b"], "pw", "manager", [self.b])
        upsert_user(conn, self.users["resident"], "pw", "resident", [self.a])
        device_store.ensure_community(conn, self.a, "Wall Garden")
        device_store.ensure_community(conn, self.b)
        self.cleared, self.burning, self.calm = (f"{self.a}-b1-sd0{i}" for i in (1, 2, 3))
        for i, device in enumerate((self.cleared, self.burning, self.calm)):
            device_store.upsert_device(
                conn,
                device_store.NewDevice(
                    device,
                    DeviceKind.SMOKE_DETECTOR,
                    self.a,
                    "b1",
                    "g1",
                    latitude=[31.2, 31.201, 31.202][i],
                    longitude=121.5,
                ),
                None,
            )
        now = datetime.now(UTC)
        device_store.record_seen(
            conn,
            [
                device_store.StateUpdate(d, now, 1, 90.0, None, None)
                for d in (self.cleared, self.burning, self.calm)
            ],
        )
        self.cleared_case = self._case(
            conn, self.cleared, "critical", self._alert(conn, self.cleared, "cleared")
        )
        self.burning_case = self._case(
            conn, self.burning, "critical", self._alert(conn, self.burning, "open")
        )
        self.minor_case = self._case(conn, self.burning, "minor", None)

    def _alert(self, conn: psycopg.Connection[Any], device: str, status: str) -> int:
        now = datetime.now(UTC)
        row = conn.execute(
            "INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, building, grid, severity, "
            "category, title, status, started_at, opened_at, cleared_at, explanation) VALUES ('smoke-alarm', 'v1', "
            "%s, %s, %s, 'b1', 'g1', 'critical', 'fire', 'Smoke alarm', %s, %s, %s, %s, '{}') RETURNING id",
            (
                f"{device}-{uuid.uuid4().hex[:4]}",
                device,
                self.a,
                status,
                now,
                now,
                now if status == "cleared" else None,
            ),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _case(self, conn: psycopg.Connection[Any], device: str, severity: str, alert: int | None) -> int:
        row = conn.execute(
            "INSERT INTO cases (title, category, severity, status, source, subject, community_id, building, "
            "device_id, team) VALUES ('Smoke', 'fire', %s, 'dispatched', 'alert', %s, %s, 'b1', %s, 'wall-team') "
            "RETURNING id",
            (severity, f"{device}-{uuid.uuid4().hex[:4]}", self.a, device),
        ).fetchone()
        assert row is not None
        if alert is not None:
            conn.execute("INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s)", (row[0], alert))
        return int(row[0])


@pytest.fixture(scope="module")
def wall(setup_conn: psycopg.Connection[Any]) -> Wall:
    return Wall(setup_conn)


def test_the_case_list_says_whether_the_alarm_is_still_active(client: TestClient, wall: Wall) -> None:
    r = client.get(
        f"{API}/cases",
        params={"status": "dispatched", "limit": 500},
        headers=login(client, wall.users["manager"]),
    )
    active = {c["id"]: c["alarm_active"] for c in r.json()}
    assert active[wall.burning_case] is True
    assert active[wall.cleared_case] is False, "its only alert cleared"
    assert active[wall.minor_case] is False, "no alert at all"
    one = client.get(f"{API}/cases/{wall.burning_case}", headers=login(client, wall.users["operator"])).json()
    assert one["alarm_active"] is True and one["escalation_level"] == "team"


def test_a_device_stays_in_alarm_while_its_case_is_open_and_links_to_it(
    client: TestClient,
    wall: Wall,
    setup_conn: psycopg.Connection[Any],
) -> None:
    def plan() -> dict[str, dict[str, Any]]:
        r = client.get(f"{API}/sites/{wall.a}", headers=login(client, wall.users["manager"]))
        assert r.status_code == 200, r.text
        return {d["id"]: d for d in r.json()["devices"]}

    devices = plan()
    cleared = devices[wall.cleared]
    assert (cleared["state"], cleared["open_alerts"], cleared["open_cases"]) == ("alerting", 0, 1)
    assert cleared["open_case_id"] == wall.cleared_case
    burning = devices[wall.burning]
    assert (burning["open_cases"], burning["open_case_id"]) == (2, wall.burning_case), (
        "the critical one first"
    )
    calm = devices[wall.calm]
    assert (calm["state"], calm["open_case_id"]) == ("ok", None)
    assert (calm["latitude"], calm["longitude"]) == (31.202, 121.5)
    summary = next(s for s in client.get(f"{API}/sites", headers=login(client, wall.users["manager"])).json())
    assert summary["states"] == {"alerting": 2, "ok": 1}

    setup_conn.execute("UPDATE cases SET status = 'closed' WHERE id = %s", (wall.cleared_case,))
    try:
        assert plan()[wall.cleared]["state"] == "ok", "its case is done"
    finally:
        setup_conn.execute("UPDATE cases SET status = 'dispatched' WHERE id = %s", (wall.cleared_case,))


def test_a_communitys_admins_and_managers_upload_the_plan_image_and_its_staff_read_it(
    client: TestClient,
    wall: Wall,
    setup_conn: psycopg.Connection[Any],
) -> None:
    url = f"{API}/communities/{wall.a}/plan-image"
    manager = login(client, wall.users["manager"])
    image = png(120, 80)
    assert client.get(url, headers=manager).status_code == 404, "none yet"
    r = client.put(url, content=image, headers={**manager, "Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert (r.json()["content_type"], r.json()["size"]) == ("image/png", len(image))
    got = client.get(url, headers=login(client, wall.users["operator"]))
    assert (got.status_code, got.headers["content-type"], got.content) == (200, "image/png", image)
    shown = client.get(f"{API}/sites/{wall.a}", headers=manager).json()["image"]
    assert shown["content_type"] == "image/png" and shown["updated_at"] == r.json()["updated_at"]
    assert setup_conn.execute(
        "SELECT action, target_type, community_id, outcome, details->>'size' FROM audit_log "
        "WHERE target_id = %s ORDER BY id",
        (wall.a,),
    ).fetchall() == [("community.plan_image", "community", wall.a, 200, str(len(image)))]

    refusals = [
        (login(client, wall.users["manager_b"]), image, "image/png", 404),  # another community's manager
        (login(client, wall.users["operator"]), image, "image/png", 403),
        (login(client, wall.users["resident"]), image, "image/png", 403),
        (manager, b"GIF89a" + bytes(40), "image/gif", 415),
        (manager, image, "image/jpeg", 415),  # says JPEG, is PNG
        (manager, b"", "image/png", 422),
        (manager, image + bytes(MAX_PLAN_IMAGE_BYTES), "image/png", 413),
    ]
    for headers, body, kind, status in refusals:
        r = client.put(url, content=body, headers={**headers, "Content-Type": kind})
        assert r.status_code == status, (kind, status, r.text)
        assert r.json()["error"]["message"]
    assert client.get(url, headers=login(client, wall.users["resident"])).status_code == 403
    assert client.get(url, headers=login(client, wall.users["manager_b"])).status_code == 404
    assert (
        client.put(
            f"{API}/communities/nowhere/plan-image", content=image, headers=login(client, wall.users["admin"])
        ).status_code
        == 404
    )

    assert client.delete(url, headers=login(client, wall.users["admin"])).status_code == 204
    assert client.get(url, headers=manager).status_code == 404
    assert client.get(f"{API}/sites/{wall.a}", headers=manager).json()["image"] is None


def test_the_kpi_trend_counts_each_week_and_month_as_its_own_cohort(client: TestClient, wall: Wall) -> None:
    manager = login(client, wall.users["manager"])
    r = client.get(
        f"{API}/kpis/trend", params={"community": wall.a, "interval": "week", "periods": 4}, headers=manager
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["interval"], body["time_zone"], len(body["periods"])) == ("week", "Asia/Shanghai", 4)
    starts = [datetime.fromisoformat(p["from"]).astimezone(SHANGHAI) for p in body["periods"]]
    assert all(s.weekday() == 0 and (s.hour, s.minute) == (0, 0) for s in starts), "Mondays' midnights"
    assert [b - a for a, b in pairwise(starts)] == [timedelta(weeks=1)] * 3
    last = body["periods"][-1]
    assert datetime.fromisoformat(last["from"]) <= datetime.now(UTC) < datetime.fromisoformat(last["to"])
    assert last["opened"] == 3 and last["emergencies"] == 2, "this week's cases in the running week"
    assert [p["opened"] for p in body["periods"][:-1]] == [0, 0, 0]
    months = client.get(
        f"{API}/kpis/trend", params={"interval": "month", "periods": 2}, headers=manager
    ).json()
    assert [datetime.fromisoformat(p["from"]).astimezone(SHANGHAI).day for p in months["periods"]] == [1, 1]
    assert (
        client.get(
            f"{API}/kpis/trend", params={"community": wall.a}, headers=login(client, wall.users["manager_b"])
        ).status_code
        == 404
    )
    assert client.get(f"{API}/kpis/trend", headers=login(client, wall.users["resident"])).status_code == 403
    assert client.get(f"{API}/kpis/trend", params={"periods": 27}, headers=manager).status_code == 422
