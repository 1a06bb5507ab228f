"""`HUB_DATABASE_READ_URL` against a real streaming standby (`tests/support/standby.py`), over HTTP to a
hub process: writes go to the primary and reach the read-heavy routes once the standby has replayed
them; with replay paused those routes do not see a new row while the routes that read the caller's own
writes do, which shows where each reads; and a stopped standby sends the reads to the primary."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from hub.domain.devices import DeviceKind
from tests.support import factories
from tests.support.browser import NEEDS_CHROMIUM, PHONE, open_tab
from tests.support.processes import HubProcess, poll, running_hub
from tests.support.standby import Replicated

PASSWORD = "replica-admin-password"
pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/postgresql/15/bin/pg_basebackup").exists(),
    reason="needs PostgreSQL 15's pg_basebackup",
)


@pytest.fixture(scope="module")
def hub(standby_pair: Replicated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(
        standby_pair.primary.url(),
        tmp_path_factory.mktemp("replica"),
        HUB_DATABASE_READ_URL=standby_pair.standby.url(),
        HUB_DATABASE_READ_RETRY_S="1",
        HUB_ADMIN_PASSWORD=PASSWORD,
    ) as process:
        yield process


@pytest.fixture(scope="module")
def admin(hub: HubProcess) -> dict[str, str]:
    return hub.login("admin", PASSWORD)


@pytest.fixture
def primary(standby_pair: Replicated) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(standby_pair.primary.url(), autocommit=True) as c:
        yield c


@pytest.fixture
def paused(place: "Place", standby_pair: Replicated) -> Iterator[Replicated]:
    """Replay paused on the standby for the test, once the test's place has reached it; resumed and
    caught up afterwards whatever happened."""
    standby_pair.pause_replay()
    try:
        yield standby_pair
    finally:
        standby_pair.resume_replay()
        standby_pair.wait_replayed()


class Place:
    """A community of its own with a smoke detector and a gate, and the reads the tests make of it."""

    def __init__(self, hub: HubProcess, headers: dict[str, str], conn: psycopg.Connection[Any]) -> None:
        self.hub = hub
        self.headers = headers
        self.community = factories.community(conn, "rr")
        self.detector = factories.device(conn, self.community, "sd1", DeviceKind.SMOKE_DETECTOR).id
        self.gate = factories.device(conn, self.community, "gate1", DeviceKind.ACCESS_GATE).id
        self.seq = 0

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.hub.url}/api/v1{path}", params=params, headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def insert_reading(self, conn: psycopg.Connection[Any], temperature: float) -> None:
        self.seq += 1
        at = datetime.now(UTC) - timedelta(minutes=5)
        conn.execute(
            "INSERT INTO telemetry_smoke (time, device_id, seq, received_at, community_id,"
            " smoke_obscuration_pct_per_m, temperature_c, battery_pct, alarm, fault, tamper, test_button)"
            " VALUES (%s, %s, %s, now(), %s, 0.1, %s, 90, false, false, false, false)",
            (at, self.detector, self.seq, self.community, temperature),
        )

    def insert_access(self, conn: psycopg.Connection[Any]) -> None:
        self.seq += 1
        conn.execute(
            "INSERT INTO access_events (time, device_id, seq, received_at, community_id, result, method,"
            " direction, person_pseudonym) VALUES (now() - interval '5 minutes', %s, %s, now(), %s,"
            " 'granted', 'card', 'in', 'p-1')",
            (self.gate, self.seq, self.community),
        )

    def temperatures(self) -> list[float]:
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        body = self.get(
            f"/devices/{self.detector}/telemetry", bucket="raw", metrics="temperature_c", **{"from": start}
        )
        return [p["temperature_c"] for p in body["points"]]

    def opened(self) -> int:
        return int(self.get("/kpis", community=self.community)["totals"]["opened"])

    def public_cases(self) -> Any:
        r = httpx.get(f"{self.hub.url}/api/v1/public/communities/{self.community}/summary", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["cases"]

    def detector_open_cases(self) -> int:
        plan = self.get(f"/sites/{self.community}")
        return int(next(d["open_cases"] for d in plan["devices"] if d["id"] == self.detector))

    def access_events(self) -> int:
        return len(self.get(f"/devices/{self.gate}/access-events")["events"])

    def report_case(self) -> int:
        r = httpx.post(
            f"{self.hub.url}/api/v1/cases",
            json={
                "community": self.community,
                "category": "infrastructure",
                "description": "cracked kerb",
                "device_id": self.detector,
            },
            headers=self.headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


@pytest.fixture
def place(
    hub: HubProcess, admin: dict[str, str], primary: psycopg.Connection[Any], standby_pair: Replicated
) -> Place:
    found = Place(hub, admin, primary)
    standby_pair.wait_replayed()
    return found


def test_writes_on_the_primary_reach_the_read_routes_after_replay(
    place: Place, primary: psycopg.Connection[Any], standby_pair: Replicated
) -> None:
    assert (place.temperatures(), place.opened(), place.public_cases(), place.detector_open_cases()) == (
        [],
        0,
        0,
        0,
    )

    place.insert_reading(primary, 21.5)
    place.insert_access(primary)
    place.report_case()
    standby_pair.wait_replayed()

    assert place.temperatures() == [21.5]
    assert place.opened() == 1
    assert place.public_cases() == "<3"
    assert place.detector_open_cases() == 1
    assert place.access_events() == 1


def test_with_replay_paused_the_read_routes_lag_and_the_primary_routes_do_not(
    place: Place, primary: psycopg.Connection[Any], paused: Replicated, hub: HubProcess
) -> None:
    place.insert_reading(primary, 30.0)
    place.insert_access(primary)
    case_id = place.report_case()

    assert place.get(f"/cases/{case_id}")["id"] == case_id, "a case reads its own write on the primary"
    assert place.temperatures() == []
    assert place.opened() == 0
    assert place.public_cases() == 0
    assert place.detector_open_cases() == 0
    assert place.access_events() == 0

    audited = primary.execute(
        "SELECT details->>'rows' FROM audit_log WHERE action = 'access_events.read' AND target_id = %s",
        (place.gate,),
    ).fetchall()
    assert audited == [("0",)], "the audit row of a read on the standby is written on the primary"

    fresh = Place(hub, hub.login("admin", PASSWORD), primary)
    assert fresh.temperatures() == [], "a device registered just now is found on the primary, not 404"
    assert fresh.get(f"/sites/{fresh.community}")["id"] == fresh.community, "a new community has its plan"

    standby = place.get("/admin/health")["database"]["standby"]
    assert standby["up"] and standby["in_recovery"] and standby["replay_paused"]
    assert standby["behind_bytes"] > 0 and standby["replay_lag_s"] >= 0

    paused.resume_replay()
    paused.wait_replayed()
    assert place.temperatures() == [30.0]
    assert (place.opened(), place.public_cases(), place.detector_open_cases(), place.access_events()) == (
        1,
        "<3",
        1,
        1,
    )


@NEEDS_CHROMIUM
@pytest.mark.browser
@pytest.mark.parametrize(
    ("locale", "context", "paused_text", "lag_text"),
    [
        ("en-GB", {"viewport": {"width": 1366, "height": 900}}, "replay paused", "s behind"),
        ("zh-CN", PHONE, "回放已暂停", "落后"),
    ],
)
def test_the_health_page_shows_the_standby_paused_then_caught_up(
    place: Place,
    paused: Replicated,
    browser: Browser,
    locale: str,
    context: dict[str, Any],
    paused_text: str,
    lag_text: str,
) -> None:
    with open_tab(browser, place.hub.url, PASSWORD, locale=locale, **context) as tab:
        page = tab.login("admin", "#/admin/health")
        standby = page.locator('[data-tile="standby"]')
        expect(standby).to_contain_text(paused_text)
        tab.shot(f"health-standby-paused-{locale}")
        paused.resume_replay()
        paused.wait_replayed()
        expect(standby).to_contain_text(lag_text, timeout=10_000)
        expect(standby).not_to_contain_text(paused_text)


def test_health_and_metrics_report_the_standby(place: Place, standby_pair: Replicated) -> None:
    standby_pair.wait_replayed()
    standby = place.get("/admin/health")["database"]["standby"]
    assert (standby["up"], standby["in_recovery"], standby["replay_paused"]) == (True, True, False)
    assert 0 <= standby["replay_lag_s"] < 5, "the hub's own heartbeats keep the primary writing"
    assert 0 <= standby["behind_bytes"] < 1_000_000
    r = httpx.get(f"{place.hub.url}/metrics", headers=place.headers, timeout=10)
    assert r.status_code == 200, r.text
    assert "\nhub_db_standby_up 1\n" in r.text
    assert "\nhub_db_standby_replay_lag_seconds " in r.text
    assert "# TYPE hub_db_standby_behind_bytes gauge\n" in r.text


def test_a_stopped_standby_sends_the_reads_to_the_primary_until_it_is_back(
    place: Place, primary: psycopg.Connection[Any], standby_pair: Replicated
) -> None:
    standby_pair.standby.stop()
    try:
        place.insert_reading(primary, 40.0)
        started = time.monotonic()
        assert place.temperatures() == [40.0], "read on the primary"
        assert time.monotonic() - started < 5
        assert place.opened() == 0
        place.report_case()
        assert place.opened() == 1
        assert place.get("/admin/health")["database"]["standby"]["up"] is False
        metrics = httpx.get(f"{place.hub.url}/metrics", headers=place.headers, timeout=10).text
        assert "\nhub_db_standby_up 0\n" in metrics
        assert "\nhub_db_standby_replay_lag_seconds " not in metrics
    finally:
        standby_pair.start_standby()

    standby_pair.pause_replay()
    try:
        place.insert_reading(primary, 41.0)
        assert poll(lambda: place.temperatures() == [40.0], timeout=30), "the reads are back on the standby"
    finally:
        standby_pair.resume_replay()
        standby_pair.wait_replayed()
    assert place.temperatures() == [40.0, 41.0]
