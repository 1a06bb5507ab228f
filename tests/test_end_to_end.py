"""The walking skeleton, all real: simulator → Mosquitto → hub → TimescaleDB → rule → case → API."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.store.users import upsert_user
from tests.support.processes import HubProcess, hub_sim, poll
from tests.support.services import ROOT, Broker

SITE = ROOT / "tests" / "data" / "site-small.yaml"
pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        upsert_user(conn, "e2e-admin", "e2e-admin-pw", "admin")
        upsert_user(conn, "e2e-manager-pine", "pine-pw", "manager", ["pine"])
    h = HubProcess(database_url, broker, tmp_path)
    h.start()
    yield h
    h.stop()


def test_fire_alarm_travels_from_simulator_to_case_api(
    hub: HubProcess, database_url: str, tmp_path: Path
) -> None:
    creds = tmp_path / "creds.json"
    hub.provision(SITE, creds, "e2e-admin", "e2e-admin-pw")
    hub_sim(
        "scenario",
        "fire",
        "--site",
        str(SITE),
        "--credentials",
        str(creds),
        "--community",
        "oak",
        "--building",
        "b1",
        "--steps",
        "3",
        "--step-seconds",
        "0.2",
        "--mqtt-port",
        hub.env["HUB_MQTT_PORT"],
    )

    headers = hub.login("e2e-admin", "e2e-admin-pw")

    def building_case() -> list[dict[str, Any]]:
        r = httpx.get(f"{hub.url}/api/v1/cases", headers=headers, timeout=5)
        r.raise_for_status()
        return [c for c in r.json() if c["subject"] == "building:oak/b1" and c["status"] == "dispatched"]

    found = poll(building_case, timeout=20)
    assert found, f"no building fire case appeared; hub log:\n{hub.log()}"
    case = found[0]
    assert case["category"] == "fire"
    assert case["severity"] == "critical"
    assert case["team"] == "fire-safety"
    assert case["building"] == "b1"
    assert case["grid"] == "oak-g1"
    assert case["source"] == "alert"

    detail = httpx.get(f"{hub.url}/api/v1/cases/{case['id']}", headers=headers).json()
    assert [h["action"] for h in detail["history"]][:2] == ["opened", "dispatched"]
    by_rule = {(a["rule_id"], a["subject"]) for a in detail["alerts"]}
    assert ("fire-in-building", "building:oak/b1") in by_rule
    members = {s for r, s in by_rule if r == "smoke-alarm"}
    assert len(members) >= 2, "the building case takes in the detectors' own alerts"
    assert all(a["explanation"]["readings"] or a["rule_id"] == "fire-in-building" for a in detail["alerts"])

    all_cases = httpx.get(f"{hub.url}/api/v1/cases", headers=headers).json()
    singles = [c for c in all_cases if c["community_id"] == "oak" and c["subject"] in members]
    assert all(c["status"] == "cancelled" for c in singles), "single cases are absorbed, not left open"

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT device_id, count(*), bool_or(alarm), max(smoke_obscuration_pct_per_m), min(community_id) "
            "FROM telemetry_smoke WHERE device_id LIKE 'oak-b1-sd%%' GROUP BY device_id ORDER BY device_id"
        ).fetchall()
    assert [r[0] for r in rows] == ["oak-b1-sd01", "oak-b1-sd02", "oak-b1-sd03"]
    assert all(r[1] == 3 for r in rows), "each of the three scenario readings is stored exactly once"
    assert rows[0][2] is True
    assert rows[0][3] >= 3.0
    assert rows[0][4] == "oak"

    pine_report = httpx.post(
        f"{hub.url}/api/v1/cases",
        json={"community": "pine", "category": "noise", "grid": "pine-g1", "description": "loud pump"},
        headers=headers,
    )
    assert pine_report.status_code == 201, pine_report.text
    pine_manager = hub.login("e2e-manager-pine", "pine-pw")
    seen = httpx.get(f"{hub.url}/api/v1/cases", headers=pine_manager).json()
    assert pine_report.json()["id"] in [c["id"] for c in seen], "a manager sees their community's cases"
    assert {c["community_id"] for c in seen} == {"pine"}, "and no other community's"
    assert httpx.get(f"{hub.url}/api/v1/cases/{case['id']}", headers=pine_manager).status_code == 404
    assert httpx.get(f"{hub.url}/api/v1/cases").status_code == 401
