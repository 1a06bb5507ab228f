"""The walking skeleton, all real: simulator → Mosquitto → hub → TimescaleDB → rule → case → API."""

from collections.abc import Iterator
from pathlib import Path

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
    sim_env = {"HUB_ADMIN_PASSWORD": "e2e-admin-pw"}
    hub_sim(
        "provision",
        "--site",
        str(SITE),
        "--api",
        hub.url,
        "--admin-user",
        "e2e-admin",
        "--credentials",
        str(creds),
        env=sim_env,
    )
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

    def fire_cases() -> list[dict[str, object]]:
        r = httpx.get(f"{hub.url}/api/v1/cases", headers=headers, timeout=5)
        r.raise_for_status()
        return [c for c in r.json() if c["category"] == "fire" and c["community_id"] == "oak"]

    cases = poll(fire_cases, timeout=20)
    assert cases, f"no fire case appeared; hub log:\n{hub.log()}"
    by_device = {c["device_id"]: c for c in cases}
    assert set(by_device) <= {"oak-b1-sd01", "oak-b1-sd02", "oak-b1-sd03"}
    case = by_device.get("oak-b1-sd01") or cases[0]
    assert case["severity"] == "critical"
    assert case["status"] == "dispatched"
    assert case["team"] == "fire-safety"
    assert case["building"] == "b1"
    assert case["grid"] == "oak-g1"
    assert case["source"] == "alert"

    detail = httpx.get(f"{hub.url}/api/v1/cases/{case['id']}", headers=headers).json()
    assert [h["action"] for h in detail["history"]][:2] == ["opened", "dispatched"]
    alert = detail["alerts"][0]
    assert alert["rule_id"] in {"smoke-alarm", "smoke-heat"}
    assert alert["explanation"]["readings"], "an alert must carry the readings that triggered it"

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT smoke_obscuration_pct_per_m, alarm, community_id FROM telemetry_smoke "
            "WHERE device_id = %s ORDER BY time",
            (case["device_id"],),
        ).fetchall()
    assert len(rows) == 3, "each of the three scenario readings is stored exactly once"
    assert rows[-1][1] is True
    assert rows[-1][0] >= 3.0
    assert rows[-1][2] == "oak"

    pine_manager = hub.login("e2e-manager-pine", "pine-pw")
    assert httpx.get(f"{hub.url}/api/v1/cases", headers=pine_manager).json() == [] or all(
        c["community_id"] == "pine" for c in httpx.get(f"{hub.url}/api/v1/cases", headers=pine_manager).json()
    )
    assert httpx.get(f"{hub.url}/api/v1/cases/{case['id']}", headers=pine_manager).status_code == 404
    assert httpx.get(f"{hub.url}/api/v1/cases").status_code == 401
