"""The device registry through the API (in-process app, real database) and the offline job."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.broker.auth import verify_password
from hub.cli import main
from hub.domain.devices import DeviceKind
from hub.jobs.scheduler import mark_silent_devices_offline
from hub.store import devices as device_store
from tests.support.api import app_client, login
from tests.support.cli import command_settings


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    users = {"reg-admin": ("admin", ()), "reg-operator": ("operator", ())}
    with app_client(database_url, users=users, mqtt_auth_dir=tmp_path / "auth") as c:
        yield c


def test_register_one_device_returns_its_password_once_and_stores_only_a_hash(
    client: TestClient, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    admin = login(client, "reg-admin")
    body = {
        "id": "reg-sd1",
        "kind": "smoke_detector",
        "community": "regc",
        "building": "b1",
        "grid": "g1",
        "plan_x": 10,
        "plan_y": 20,
        "latitude": 31.2,
        "longitude": 121.5,
        "installed_on": "2026-01-15",
    }
    r = client.post("/api/v1/devices", json=body, headers=admin)
    assert r.status_code == 201, r.text
    password = r.json()["mqtt_password"]
    stored = conn.execute("SELECT mqtt_password_hash FROM devices WHERE id = 'reg-sd1'").fetchone()
    assert stored is not None
    assert password not in stored[0]
    assert verify_password(password, stored[0])
    passwd = (tmp_path / "auth" / "passwd").read_text()
    acl = (tmp_path / "auth" / "acl").read_text()
    assert f"reg-sd1:{stored[0]}" in passwd and password not in passwd
    assert "user reg-sd1\ntopic write sc/v1/regc/smoke_detector/reg-sd1/#" in acl
    again = client.post("/api/v1/devices", json=body, headers=admin)
    assert again.status_code == 409
    assert "exists" in again.json()["error"]["message"]


def test_csv_import_reports_each_bad_row_and_registers_the_good_ones(client: TestClient) -> None:
    admin = login(client, "reg-admin")
    csv_text = (
        "id,kind,community,building,grid,plan_x,plan_y,metadata\n"
        'reg-lp1,lamppost,regc,,g1,5,5,"{""rated_w"": 120}"\n'
        "reg-bad1,toaster,regc,,g1,1,1,\n"
        "reg-mh1,manhole,regc,,g2,not-a-number,1,\n"
        "reg-gt1,access_gate,regc,b1,g1,1,1,{broken\n"
    )
    r = client.post(
        "/api/v1/devices/import/csv", content=csv_text, headers={**admin, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["errors"]) == (1, 3)
    errors = {row["row"]: row["error"] for row in out["rows"] if row["status"] == "error"}
    assert "kind" in errors[2] and "plan_x" in errors[3] and "metadata" in errors[4]
    bad_header = client.post(
        "/api/v1/devices/import/csv",
        content="id,colour\nx,red\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert bad_header.status_code == 422
    assert "colour" in bad_header.json()["error"]["message"]


def test_csv_lines_ending_in_a_lone_cr_import_and_an_unreadable_csv_is_refused_by_line(
    client: TestClient,
) -> None:
    admin = login(client, "reg-admin")
    headers = {**admin, "Content-Type": "text/csv"}
    crs = "id,kind,community,grid\rreg-cr1,manhole,regc,g1\rreg-cr2,lamppost,regc,g2\r"
    r = client.post("/api/v1/devices/import/csv?dry_run=true", content=crs, headers=headers)
    assert r.status_code == 200, r.text
    assert [(row["id"], row["status"]) for row in r.json()["rows"]] == [
        ("reg-cr1", "created"),
        ("reg-cr2", "created"),
    ]
    huge = "id,kind,community,metadata\nreg-big,manhole,regc,ok\n" + "reg-huge,manhole,regc," + "x" * 200_000
    refused = client.post("/api/v1/devices/import/csv", content=huge, headers=headers)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "cannot read the CSV" in message and "line 3" in message and "field limit" in message
    assert client.get("/api/v1/devices/reg-big", headers=admin).status_code == 404, "nothing imported"


def test_only_admins_register_and_everyone_needs_a_token(client: TestClient) -> None:
    operator = login(client, "reg-operator")
    body = {"id": "reg-x", "kind": "manhole", "community": "regc"}
    assert client.post("/api/v1/devices", json=body, headers=operator).status_code == 403
    assert client.post("/api/v1/devices", json=body).status_code == 401
    bad = client.post(
        "/api/v1/devices",
        json={"id": "bad id!", "kind": "manhole", "community": "regc"},
        headers=login(client, "reg-admin"),
    )
    assert bad.status_code == 422
    assert "id" in bad.json()["error"]["message"]


def test_silent_devices_go_offline_and_are_recorded(conn: psycopg.Connection[Any]) -> None:
    device_store.ensure_community(conn, "offc")
    for d in ("off-1", "off-2"):
        device_store.upsert_device(conn, device_store.NewDevice(d, DeviceKind.SMOKE_DETECTOR, "offc"), None)
    now = datetime.now(UTC)
    device_store.record_seen(
        conn,
        [
            device_store.StateUpdate("off-1", now - timedelta(minutes=10), 1, None, None, None),
            device_store.StateUpdate("off-2", now - timedelta(seconds=10), 1, None, None, None),
        ],
    )
    went = mark_silent_devices_offline(conn, timedelta(minutes=5), now)
    assert went is not None and "off-1" in went and "off-2" not in went
    assert mark_silent_devices_offline(conn, timedelta(minutes=5), now) == []
    reasons = conn.execute(
        "SELECT online, reason FROM device_status_history WHERE device_id = 'off-1' ORDER BY time"
    ).fetchall()
    assert reasons[-1] == (False, "no message for 300s")


def test_a_new_device_id_with_a_dot_is_refused_naming_the_field_and_an_old_one_still_updates(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    """A dot splits the topic level on a broker that maps '/' to '.' (RabbitMQ), so new ids may not have
    one; a device registered before that rule keeps working."""
    admin = login(client, "reg-admin")
    body = {"id": "dot.sd1", "kind": "smoke_detector", "community": "regdot"}
    r = client.post("/api/v1/devices", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert "id: a new device id may not contain '.'" in r.json()["error"]["message"]
    rows = client.post(
        "/api/v1/devices/import", json={"devices": [body, {**body, "id": "dot-sd2"}]}, headers=admin
    ).json()["rows"]
    assert [(x["status"], x["errors"][0]["field"] if x["errors"] else None) for x in rows] == [
        ("error", "id"),
        ("created", None),
    ]
    assert conn.execute("SELECT count(*) FROM devices WHERE id = 'dot.sd1'").fetchone() == (0,)
    device_store.ensure_community(conn, "regdot")
    conn.execute(
        "INSERT INTO devices (id, kind, community_id) VALUES ('old.sd3', 'smoke_detector', 'regdot')"
    )
    again = client.post(
        "/api/v1/devices/import",
        json={"devices": [{**body, "id": "old.sd3", "building": "b9"}]},
        headers=admin,
    ).json()["rows"]
    assert again[0]["status"] == "updated", again


def test_the_command_line_imports_a_json_list_or_a_csv_file_and_refuses_an_unreadable_one(
    database_url: str,
    conn: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    auth = tmp_path / "auth"
    with command_settings(monkeypatch, database_url, HUB_MQTT_AUTH_DIR=str(auth)):
        sheet = tmp_path / "devices.csv"
        sheet.write_bytes(
            b"\xef\xbb\xbfid,kind,community,grid\r\nreg-cli1,manhole,regc,g1\r\nreg-cli2,lamppost,regc,g2\r\n"
        )
        assert main(["devices", "import", str(sheet)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [(row["id"], row["status"]) for row in map(json.loads, lines)] == [
            ("reg-cli1", "created"),
            ("reg-cli2", "created"),
        ]
        assert device_store.get_device(conn, "reg-cli2") is not None
        assert "reg-cli1:" in (auth / "passwd").read_text(), "the broker learns the new device"

        listing = tmp_path / "devices.json"
        listing.write_text(json.dumps([{"id": "reg-cli3", "kind": "access_gate", "community": "regc"}]))
        assert main(["devices", "import", str(listing)]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "created"

        listing.write_text(json.dumps({"id": "reg-cli4", "kind": "access_gate", "community": "regc"}))
        assert main(["devices", "import", str(listing)]) == 2
        assert "a JSON list of device objects expected" in capsys.readouterr().err
        sheet.write_text("id,colour\nreg-cli5,red\n")
        assert main(["devices", "import", str(sheet)]) == 2
        assert "unknown CSV column(s) colour" in capsys.readouterr().err
        assert main(["devices", "import", str(tmp_path / "absent.csv")]) == 2
        assert "absent.csv" in capsys.readouterr().err
        assert (
            device_store.get_device(conn, "reg-cli4") is None
            and device_store.get_device(conn, "reg-cli5") is None
        )
