"""Ingest through the real broker into the real database: typed storage, exactly-once, dead letters,
ACL, online/offline, and no loss across a killed or stopped hub."""

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.devices.service import register
from hub.store.users import upsert_user
from tests.support.processes import HubProcess, poll
from tests.support.publisher import T0, Publisher, smoke
from tests.support.services import Broker

LOADGEN_PW = "loadgen-test-pw"


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    h = HubProcess(database_url, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW)
    yield h
    h.stop()


def devices(conn: psycopg.Connection[Any], community: str, rows: list[tuple[str, str]]) -> dict[str, str]:
    """Register devices; returns their MQTT passwords."""
    result = register(conn, [{"id": d, "kind": k, "community": community, "building": "b1"} for d, k in rows])
    return {r.id: r.mqtt_password for r in result if r.id and r.mqtt_password}


def count(database_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(database_url) as c:
        row = c.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def topic(community: str, kind: str, device: str, channel: str = "telemetry") -> str:
    return f"sc/v1/{community}/{kind}/{device}/{channel}"


class Stream:
    """`total` smoke readings from `devices` in turn, as the load generator, on a thread of its own that
    pauses `pause_s` every `pause_every` messages: traffic that goes on while the test acts on the hub."""

    def __init__(
        self,
        hub: HubProcess,
        community: str,
        devices: list[str],
        total: int,
        pause_every: int,
        pause_s: float,
    ) -> None:
        self.total = total
        self._publisher = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN_PW)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._send, args=(community, devices, pause_every, pause_s))
        self._thread.start()

    def _send(self, community: str, devices: list[str], pause_every: int, pause_s: float) -> None:
        for n in range(self.total):
            d = devices[n % len(devices)]
            self._publisher.publish(topic(community, "smoke_detector", d), smoke(d, n))
            if n % pause_every == 0:
                time.sleep(pause_s)
        self._done.set()

    def finish(self) -> None:
        """Every message sent and acknowledged by the broker, then the publisher closed."""
        self._thread.join(60)
        assert self._done.is_set()
        assert poll(lambda: self._publisher.acked == self.total, timeout=30)
        self._publisher.close()


def test_each_kind_is_stored_once_in_its_typed_table(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    devices(
        conn,
        "typed",
        [("ty-sd", "smoke_detector"), ("ty-lp", "lamppost"), ("ty-mh", "manhole"), ("ty-gt", "access_gate")],
    )
    hub.start()
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN_PW)
    ts = T0.isoformat()
    msgs = [
        (topic("typed", "smoke_detector", "ty-sd"), smoke("ty-sd", 1)),
        (
            topic("typed", "lamppost", "ty-lp"),
            {
                "device_id": "ty-lp",
                "ts": ts,
                "seq": 1,
                "lamp_on": True,
                "dim_level_pct": 80,
                "power_w": 96.5,
                "voltage_v": 221.0,
                "current_a": 0.44,
                "pole_tilt_deg": 0.3,
                "pm25_ug_m3": 31.0,
                "noise_db": 52.5,
            },
        ),
        (
            topic("typed", "manhole", "ty-mh"),
            {
                "device_id": "ty-mh",
                "ts": ts,
                "seq": 1,
                "tilt_deg": 1.5,
                "cover_open": False,
                "water_level_cm": 42.0,
                "ch4_pct_lel": 3.0,
                "h2s_ppm": 0.5,
                "battery_pct": 77.0,
            },
        ),
        (
            topic("typed", "access_gate", "ty-gt"),
            {"device_id": "ty-gt", "ts": ts, "seq": 1, "door_open": False, "uptime_s": 3600},
        ),
        (
            topic("typed", "access_gate", "ty-gt", "event"),
            {
                "device_id": "ty-gt",
                "ts": ts,
                "seq": 2,
                "event": "access",
                "result": "granted",
                "method": "card",
                "direction": "in",
                "person_ref": "card-7",
            },
        ),
        (
            topic("typed", "access_gate", "ty-gt", "event"),
            {"device_id": "ty-gt", "ts": ts, "seq": 3, "event": "door_held_open", "held_s": 130.0},
        ),
    ]
    for _ in range(3):  # every message three times: duplicates must land once
        for t, p in msgs:
            pub.publish(t, p).wait_for_publish(5)
    pub.close()

    def all_stored() -> bool:
        return (
            count(
                database_url,
                "SELECT count(*) FROM device_state WHERE device_id LIKE 'ty-%%' AND last_seq >= 1",
            )
            == 4
            and count(database_url, "SELECT count(*) FROM device_events WHERE device_id = 'ty-gt'") == 1
        )

    assert poll(all_stored, timeout=10), hub.log()
    with psycopg.connect(database_url) as c:
        assert c.execute(
            "SELECT power_w, dim_level_pct, lamp_on, noise_db FROM telemetry_lamppost "
            "WHERE device_id = 'ty-lp'"
        ).fetchall() == [(96.5, 80.0, True, 52.5)]
        assert c.execute(
            "SELECT water_level_cm, cover_open FROM telemetry_manhole WHERE device_id = 'ty-mh'"
        ).fetchall() == [(42.0, False)]
        assert c.execute(
            "SELECT smoke_obscuration_pct_per_m, alarm FROM telemetry_smoke WHERE device_id = 'ty-sd'"
        ).fetchall() == [(pytest.approx(0.1), False)]
        assert c.execute(
            "SELECT door_open, uptime_s FROM telemetry_gate WHERE device_id = 'ty-gt'"
        ).fetchall() == [(False, 3600)]
        access = c.execute(
            "SELECT result, method, direction, person_pseudonym FROM access_events WHERE device_id = 'ty-gt'"
        ).fetchall()
        assert [a[:3] for a in access] == [("granted", "card", "in")]
        pseudonym = access[0][3]
        assert pseudonym, "a person reference is kept as a pseudonym"
        assert "card-7" not in pseudonym, "the raw person reference must never be stored"
        assert c.execute("SELECT event, held_s FROM device_events WHERE device_id = 'ty-gt'").fetchall() == [
            ("door_held_open", 130.0)
        ]
        state = c.execute(
            "SELECT online, battery_pct, last_values->>'water_level_cm' FROM device_state "
            "WHERE device_id = 'ty-mh'"
        ).fetchone()
        assert state == (True, 77.0, "42.0")


def test_bad_input_is_dead_lettered_with_its_reason_while_good_traffic_continues(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    devices(conn, "dl", [("dl-sd", "smoke_detector")])
    hub.start()
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN_PW)
    good_topic = topic("dl", "smoke_detector", "dl-sd")
    bad = [
        (good_topic, b"{not json", "invalid payload"),
        (good_topic, json.dumps(smoke("dl-sd", 900) | {"battery_pct": "high"}).encode(), "battery_pct"),
        (good_topic, json.dumps(smoke("dl-sd", 901) | {"temperature_c": 999}).encode(), "temperature_c"),
        (good_topic, json.dumps(smoke("dl-other", 902)).encode(), "does not match topic"),
        (
            topic("dl", "smoke_detector", "dl-ghost"),
            json.dumps(smoke("dl-ghost", 1)).encode(),
            "unregistered device",
        ),
        (
            topic("dl", "manhole", "dl-sd"),
            json.dumps(smoke("dl-sd", 903)).encode(),
            "registered as dl/smoke_detector",
        ),
        (good_topic, b"x" * 40_000, "exceeds"),
    ]
    for i in range(20):
        pub.publish(good_topic, smoke("dl-sd", i))
        if i < len(bad):
            pub.publish(bad[i][0], bad[i][1])
    pub.client.publish(good_topic, b"", qos=1).wait_for_publish(5)
    pub.close()
    assert poll(
        lambda: count(database_url, "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'dl-sd'") == 20,
        timeout=10,
    ), hub.log()
    assert poll(
        lambda: (
            count(database_url, "SELECT count(*) FROM dead_letters WHERE topic LIKE 'sc/v1/dl/%%'")
            == len(bad) + 1
        ),
        timeout=10,
    )
    with psycopg.connect(database_url) as c:
        rows = c.execute(
            "SELECT reason, payload_size, length(payload_head) FROM dead_letters "
            "WHERE topic LIKE 'sc/v1/dl/%%' ORDER BY id"
        ).fetchall()
    reasons = [r[0] for r in rows]
    for _, _, expected in bad:
        assert any(expected in r for r in reasons), (expected, reasons)
    oversized = next(r for r in rows if "exceeds" in r[0])
    assert oversized[1:] == (40_000, 512), "keeps the size and only the first bytes"


def test_acl_stops_a_device_publishing_as_another(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    creds = devices(conn, "acl", [("acl-a", "smoke_detector"), ("acl-b", "smoke_detector")])
    hub.start()
    port = int(hub.env["HUB_MQTT_PORT"])
    a = Publisher(port, "acl-a", creds["acl-a"])
    a.publish(
        topic("acl", "smoke_detector", "acl-b"), smoke("acl-b", 1, smoke_level=9, alarm=True)
    ).wait_for_publish(5)
    a.publish(topic("acl", "smoke_detector", "acl-a"), smoke("acl-a", 1)).wait_for_publish(5)
    a.close()
    assert poll(
        lambda: count(database_url, "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'acl-a'") == 1,
        timeout=10,
    ), hub.log()
    time.sleep(0.5)
    assert count(database_url, "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'acl-b'") == 0
    assert count(database_url, "SELECT count(*) FROM alerts WHERE subject = 'acl-b'") == 0
    with pytest.raises(ConnectionRefusedError):
        Publisher(port, "acl-a", "wrong-password")


def test_last_will_marks_a_vanished_device_offline_and_traffic_brings_it_back(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    creds = devices(conn, "lw", [("lw-sd", "smoke_detector")])
    hub.start()
    status = topic("lw", "smoke_detector", "lw-sd", "status")
    dev = Publisher(
        int(hub.env["HUB_MQTT_PORT"]),
        "lw-sd",
        creds["lw-sd"],
        client_id="dev-lw-sd",
        will=(status, '{"state": "offline"}'),
    )
    dev.publish(status, b'{"state": "online"}', retain=True).wait_for_publish(5)
    online = "SELECT count(*) FROM device_state WHERE device_id = 'lw-sd' AND online"
    assert poll(lambda: count(database_url, online) == 1, timeout=10), hub.log()
    dev.drop()
    assert poll(lambda: count(database_url, online) == 0, timeout=20), "the Last Will must mark it offline"
    back = Publisher(int(hub.env["HUB_MQTT_PORT"]), "lw-sd", creds["lw-sd"])
    back.publish(topic("lw", "smoke_detector", "lw-sd"), smoke("lw-sd", 5)).wait_for_publish(5)
    back.close()
    assert poll(lambda: count(database_url, online) == 1, timeout=10)
    with psycopg.connect(database_url) as c:
        history = [
            r[0]
            for r in c.execute(
                "SELECT online FROM device_status_history WHERE device_id = 'lw-sd' ORDER BY time"
            )
        ]
    assert history == [True, False, True]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_hub_killed_or_stopped_mid_stream_loses_nothing(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str, sig: signal.Signals
) -> None:
    community = f"crash{int(sig)}"
    ids = [f"{community}-sd{i}" for i in range(20)]
    devices(conn, community, [(d, "smoke_detector") for d in ids])
    hub.start()
    total = 3000
    stream = Stream(hub, community, ids, total, pause_every=100, pause_s=0.02)
    stored = f"SELECT count(*) FROM telemetry_smoke WHERE community_id = '{community}'"
    assert poll(lambda: count(database_url, stored) > 300, timeout=15), hub.log()
    assert hub.proc is not None
    hub.proc.send_signal(sig)
    hub.proc.wait(30)
    at_stop = count(database_url, stored)
    time.sleep(1)
    hub.start()
    stream.finish()
    assert at_stop < total, "the hub must have stopped mid-stream for this test to mean anything"
    assert poll(lambda: count(database_url, stored) == total, timeout=30), (
        count(database_url, stored),
        hub.log(),
    )
    assert (
        count(
            database_url,
            f"SELECT count(DISTINCT seq) FROM telemetry_smoke WHERE community_id = '{community}'",
        )
        == total
    )
    assert datetime.now(UTC) > T0


def test_registering_devices_mid_stream_reloads_the_broker_without_losing_messages(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    """Each registration rewrites the broker's auth files and makes Mosquitto reload them while the hub
    is connected and messages stream to it."""
    community = "reload"
    ids = [f"reload-sd{i}" for i in range(10)]
    devices(conn, community, [(d, "smoke_detector") for d in ids])
    upsert_user(conn, "reload-admin", "reload-admin-pw", "admin", [])
    hub.start()
    headers = hub.login("reload-admin", "reload-admin-pw")
    total = 2000
    stream = Stream(hub, community, ids, total, pause_every=20, pause_s=0.01)
    for i in range(8):
        r = httpx.post(
            f"{hub.url}/api/v1/devices",
            json={"id": f"reload-new{i}", "kind": "smoke_detector", "community": community},
            headers=headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        time.sleep(0.25)
    stream.finish()
    stored = f"SELECT count(DISTINCT seq) FROM telemetry_smoke WHERE community_id = '{community}'"
    assert poll(lambda: count(database_url, stored) == total, timeout=30), count(database_url, stored)


PG_DATA = os.environ.get("HUB_TEST_PG_DATA", "/var/lib/sc-hub/pg15")


def restart_postgres() -> None:
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "-D",
            PG_DATA,
            "-m",
            "fast",
            "-w",
            "restart",
            "-l",
            f"{PG_DATA}/server.log",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_database_restart_mid_stream_loses_nothing(hub: HubProcess, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        devices(c, "pgr", [(f"pgr-sd{i}", "smoke_detector") for i in range(10)])
    hub.start()
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN_PW)
    total = 2000
    stored = "SELECT count(*) FROM telemetry_smoke WHERE community_id = 'pgr'"
    for n in range(total // 2):
        d = f"pgr-sd{n % 10}"
        pub.publish(topic("pgr", "smoke_detector", d), smoke(d, n))
    assert poll(lambda: count(database_url, stored) > 0, timeout=15), hub.log()
    restart_postgres()
    for n in range(total // 2, total):
        d = f"pgr-sd{n % 10}"
        pub.publish(topic("pgr", "smoke_detector", d), smoke(d, n))
    assert poll(lambda: pub.acked == total, timeout=30)
    pub.close()
    assert poll(lambda: count(database_url, stored) == total, timeout=60), (
        count(database_url, stored),
        hub.log(),
    )
    assert hub.proc is not None
    assert hub.proc.poll() is None, "the hub must ride out the restart by itself"
    assert "database write failed" in hub.log(), "the restart must have hit the hub's writer"
