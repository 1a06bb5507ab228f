"""Adapters through the real broker, the real database and a hub process: vendor messages published on
vendor topics are stored as typed readings and raise the alerts a native message would; what an adapter
refuses is dead-lettered with the adapter, the step and the reason."""

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.devices.service import register
from hub.ingest.rows import pseudonym
from hub.store import devices as device_store
from hub.store.users import upsert_user
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher
from tests.support.services import ROOT, Broker

GATEWAY_PW = "gateway-test-pw"
PSEUDONYM_KEY = "adapters-test-pseudonym-key"
ADMIN, ADMIN_PW = "adapters-admin", "adapters-admin-pw"


@pytest.fixture
def adapters_dir(tmp_path: Path) -> Path:
    target = tmp_path / "adapters"
    shutil.copytree(ROOT / "adapters", target)
    return target


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path, adapters_dir: Path) -> Iterator[HubProcess]:
    """The hub with the shipped adapters; an admin of its own, since the session's database is shared
    and its `admin` belongs to whichever hub set it first."""
    with psycopg.connect(database_url, autocommit=True) as c:
        upsert_user(c, ADMIN, ADMIN_PW, "admin")
    h = HubProcess(
        database_url,
        broker,
        tmp_path,
        HUB_ADAPTERS_DIR=str(adapters_dir),
        HUB_MQTT_GATEWAY_PASSWORD=GATEWAY_PW,
        HUB_PSEUDONYM_KEY=PSEUDONYM_KEY,
    )
    yield h
    h.stop()


def _samples(name: str) -> list[dict[str, Any]]:
    lines = (ROOT / "adapters" / "samples" / f"{name}.jsonl").read_text().splitlines()
    return [s for s in map(json.loads, lines) if "devices" not in s]


def _rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as c:
        return c.execute(sql, params).fetchall()


def test_gate_and_lamppost_samples_are_stored_and_raise_native_alerts(
    hub: HubProcess, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    community = f"adapt-{tag}"
    gate, lamp1, lamp2 = f"{community}-gate", f"{community}-lp01", f"{community}-lp02"
    serial, addr1, addr2 = f"FG-{tag}", f"L1-{tag}", f"L2-{tag}"
    device_store.ensure_community(conn, community)
    registered = register(
        conn,
        [
            {"id": gate, "kind": "access_gate", "community": community, "metadata": {"vendor_id": serial}},
            {"id": lamp1, "kind": "lamppost", "community": community, "metadata": {"vendor_id": addr1}},
            {"id": lamp2, "kind": "lamppost", "community": community, "metadata": {"vendor_id": addr2}},
        ],
    )
    hub.start()
    now = datetime.now(UTC).replace(microsecond=0)
    port = int(hub.env["HUB_MQTT_PORT"])
    publisher = Publisher(port, "gateways", GATEWAY_PW)
    # the gate publishes as itself: its account may write its own vendor topic and no other gate's
    password = next(r.mqtt_password for r in registered if r.id == gate)
    assert password is not None
    own = Publisher(port, gate, password)
    impostor = _samples("facegate")[0]["body"]
    own.publish(f"vendor/facegate/FY-{tag}/event", {**impostor, "EventTime": now.isoformat()})
    publisher.publish(f"vendor/facegate/FZ-{tag}/event", {**impostor, "EventTime": now.isoformat()})
    sent, own_sent = 1, 0
    for n, s in enumerate(_samples("facegate")):
        body = dict(s["body"])
        if "+" in body["EventTime"]:  # a sample without an offset stays as it is: refused
            body["EventTime"] = (now + timedelta(seconds=n)).isoformat()
        if "FG2024A0017" in s["topic"]:
            own.publish(s["topic"].replace("FG2024A0017", serial), body)
            own_sent += 1
        else:
            publisher.publish(s["topic"].replace("FG9999", f"FX-{tag}"), body)
            sent += 1
    for n, s in enumerate(_samples("lampgw")):
        text = json.dumps(s["body"]).replace("L-0701", addr1).replace("L-0702", addr2)
        body = {**json.loads(text), "ts": int(now.timestamp()) + n}
        publisher.publish(s["topic"], body)
        sent += 1
    assert poll(lambda: publisher.acked == sent and own.acked == own_sent + 1, timeout=10)
    publisher.close()
    own.close()

    mine = f"%{tag}%"
    refusals = (
        "SELECT adapter, step, code, reason, device_id, length(payload) FROM dead_letters "
        "WHERE adapter IS NOT NULL AND (topic LIKE %s OR convert_from(payload, 'UTF8') LIKE %s) ORDER BY id"
    )
    assert poll(lambda: len(_rows(database_url, refusals, mine, mine)) >= 6, timeout=20), hub.log()
    access = _rows(
        database_url,
        "SELECT seq, result, method, direction, person_pseudonym FROM access_events WHERE device_id = %s ORDER BY seq",
        gate,
    )
    assert access == [
        (88231, "granted", "face", "in", pseudonym(PSEUDONYM_KEY.encode(), "E10023")),
        (88232, "denied", "face", "in", None),
    ]
    events = _rows(
        database_url, "SELECT seq, event, count FROM device_events WHERE device_id = %s ORDER BY seq", gate
    )
    assert events == [(88233, "tailgating", 2), (88234, "door_forced_open", None)]
    lamps = _rows(
        database_url,
        "SELECT device_id, seq, lamp_on, power_w, emergency_call FROM telemetry_lamppost "
        "WHERE community_id = %s ORDER BY seq, device_id",
        community,
    )
    assert lamps == [
        (lamp1, 5512, True, 96.0, False),
        (lamp2, 5512, True, 94.0, True),
        (lamp1, 5513, False, 0.0, False),
    ]

    def alerts() -> set[tuple[str, str]]:
        return set(
            _rows(database_url, "SELECT rule_id, device_id FROM alerts WHERE community_id = %s", community)
        )

    assert poll(
        lambda: {("gate-tailgating", gate), ("lamp-emergency-call", lamp2)} <= alerts(), timeout=10
    ), alerts()
    refused = sorted(_rows(database_url, refusals, mine, mine))
    assert [r[:4] for r in refused] == [
        ("facegate", "device", "unregistered", f"unregistered device with vendor_id 'FX-{tag}'"),
        ("facegate", "device", "unregistered", f"unregistered device with vendor_id 'FZ-{tag}'"),
        (
            "facegate",
            "field",
            "adapter",
            "adapter: no event's `when` holds and the adapter maps no telemetry",
        ),
        ("facegate", "field", "adapter", "adapter: ts: '2026-12-06 09:00:01' is not iso time: no UTC offset"),
        ("lampgw", "contract", "invalid", "invalid payload: voltage_v: Input should be a valid number"),
        ("lampgw", "device", "unregistered", "unregistered device with vendor_id 'L-0799'"),
    ]
    assert refused[4][4] == lamp1  # refused by the contract after mapping: the device is known
    assert all(r[5] > 0 for r in refused)
    # the gateways account reached the hub with another gate's topic (FZ); the gate's own account did not (FY)
    assert _rows(database_url, "SELECT 1 FROM dead_letters WHERE topic LIKE %s", f"%FY-{tag}%") == []
    admin = hub.login(ADMIN, ADMIN_PW)
    for device, adapter in ((gate, "facegate"), (lamp2, "lampgw")):
        # live state is written once a device has waited HUB_STATE_FLUSH_S (2 s)
        assert poll(
            lambda d=device, a=adapter: (
                httpx.get(f"{hub.url}/api/v1/devices/{d}", headers=admin).json()["adapter"] == a
            ),
            timeout=10,
        )
    answer = httpx.get(f"{hub.url}/api/v1/dead-letters", params={"device": lamp1}, headers=admin)
    assert [(d["adapter"], d["step"], d["topic"]) for d in answer.json()["dead_letters"]] == [
        ("lampgw", "contract", "vendor/lampgw/LGW-07/report")
    ]


def test_dead_letters_of_a_fixed_adapter_are_replayed_and_stored_once(
    hub: HubProcess, database_url: str, conn: psycopg.Connection[Any], adapters_dir: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    community = f"replay-{tag}"
    lamp, addr, gateway = f"{community}-lp01", f"L1-{tag}", f"GW-{tag}"
    device_store.ensure_community(conn, community)
    register(
        conn, [{"id": lamp, "kind": "lamppost", "community": community, "metadata": {"vendor_id": addr}}]
    )
    hub.start()
    admin = hub.login(ADMIN, ADMIN_PW)
    now = int(datetime.now(UTC).timestamp())
    lamps = _samples("lampgw")[0]["body"]["lamps"]
    # the gateway reports voltage as text: refused by the contract; a lamp not registered yet: refused
    as_text = {**lamps[0], "addr": addr, "u": "228.5"}
    later = {**lamps[1], "addr": f"L2-{tag}"}
    publisher = Publisher(int(hub.env["HUB_MQTT_PORT"]), "gateways", GATEWAY_PW)
    topic = f"vendor/lampgw/{gateway}/report"
    publisher.publish(topic, {"gw": gateway, "ts": now, "msgNo": 7001, "lamps": [as_text]})
    publisher.publish(topic, {"gw": gateway, "ts": now + 1, "msgNo": 7002, "lamps": [later]})
    assert poll(lambda: publisher.acked == 2, timeout=10)
    publisher.close()
    refused = "SELECT step, replayed_at IS NOT NULL FROM dead_letters WHERE topic = %s ORDER BY id"
    assert poll(lambda: len(_rows(database_url, refused, topic)) == 2, timeout=20), hub.log()
    assert _rows(database_url, refused, topic) == [("contract", False), ("device", False)]

    fixed = (adapters_dir / "lampgw.yaml").read_text().replace("path: u}", "path: u, type: float}")
    assert fixed != (adapters_dir / "lampgw.yaml").read_text()
    (adapters_dir / "lampgw.yaml").write_text(fixed)
    time.sleep(2.5)  # the hub rereads changed adapter files every 2 s

    # the session's database is shared: other tests' refusals of this adapter are replayed too
    pending = "SELECT count(*) FROM dead_letters WHERE adapter = 'lampgw' AND replayed_at IS NULL"
    waiting = _rows(database_url, pending)[0][0]
    asked = httpx.post(f"{hub.url}/api/v1/adapters/lampgw/replay", headers=admin)
    assert asked.status_code == 202, asked.text

    def done() -> dict[str, Any] | None:
        r = httpx.get(f"{hub.url}/api/v1/adapters/replays/{asked.json()['id']}", headers=admin).json()
        return r if r["done_at"] else None

    result = poll(done, timeout=20)
    assert (result["replayed"], result["error"]) == (waiting, None)
    stored = "SELECT device_id, seq, voltage_v FROM telemetry_lamppost WHERE community_id = %s"
    assert _rows(database_url, stored, community) == [(lamp, 7001, 228.5)]
    # the unregistered lamp was refused again, as a new dead letter of its own
    assert _rows(database_url, refused, topic) == [("contract", True), ("device", True), ("device", False)]

    register(
        conn,
        [
            {
                "id": f"{community}-lp02",
                "kind": "lamppost",
                "community": community,
                "metadata": {"vendor_id": f"L2-{tag}"},
            }
        ],
    )
    waiting = _rows(database_url, pending)[0][0]
    cli = subprocess.run(
        [sys.executable, "-m", "hub", "adapters", "replay", "lampgw", "--timeout", "30"],
        env=hub.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"{waiting} dead letter(s) of lampgw replayed" in cli.stdout
    assert sorted(_rows(database_url, stored, community)) == [
        (lamp, 7001, 228.5),
        (f"{community}-lp02", 7002, 229.1),
    ]
    again = httpx.post(f"{hub.url}/api/v1/adapters/lampgw/replay", headers=admin).json()
    assert poll(
        lambda: httpx.get(f"{hub.url}/api/v1/adapters/replays/{again['id']}", headers=admin).json()[
            "done_at"
        ],
        timeout=20,
    )
    assert len(_rows(database_url, stored, community)) == 2
