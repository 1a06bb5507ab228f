"""Hostile input through the real broker and hub: every bad message is dead-lettered with its reason or
refused by the broker, and a well-behaved device publishing at the same time loses nothing."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.devices.service import register
from hub.ingest.decode import MAX_PAYLOAD_BYTES
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker

GOOD_MESSAGES = 300


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    h = HubProcess(database_url, broker, tmp_path)
    yield h
    h.stop()


def devices(conn: psycopg.Connection[Any], community: str, ids: list[str]) -> dict[str, str]:
    result = register(conn, [{"id": d, "kind": "smoke_detector", "community": community} for d in ids])
    return {r.id: r.mqtt_password for r in result if r.id and r.mqtt_password}


def count(database_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(database_url) as c:
        row = c.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def topic(community: str, device: str) -> str:
    return f"sc/v1/{community}/smoke_detector/{device}/telemetry"


def literal(body: dict[str, Any], key: str, token: str) -> bytes:
    """`body` as JSON with a bare token (NaN, Infinity, 1e999) as the value of `key`."""
    return json.dumps({**body, key: "__TOKEN__"}).replace('"__TOKEN__"', token).encode()


def good_traffic(pub: Publisher, community: str, device: str, done: threading.Event) -> None:
    start = datetime.now(UTC) - timedelta(seconds=GOOD_MESSAGES)
    for seq in range(GOOD_MESSAGES):
        pub.publish(topic(community, device), smoke(device, seq, at=start + timedelta(seconds=seq)))
        if seq % 50 == 0:
            time.sleep(0.01)
    done.set()


def test_hostile_payloads_are_dead_lettered_with_reasons_while_a_neighbour_loses_nothing(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    creds = devices(conn, "sec", ["sec-bad", "sec-good", "sec-victim"])
    hub.start()
    port = int(hub.env["HUB_MQTT_PORT"])
    now = datetime.now(UTC)
    base = smoke("sec-bad", 1, at=now)
    own = topic("sec", "sec-bad")
    hostile: list[tuple[bytes, str]] = [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
        (json.dumps(base | {"pad": "y" * 100_000}).encode(), "exceeds"),
        (b"[" * 3000 + b"]" * 3000, "recursion limit"),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, "recursion limit"),
        (
            literal(smoke("sec-bad", 2, at=now), "temperature_c", "NaN"),
            "temperature_c: Input should be a finite",
        ),
        (
            literal(smoke("sec-bad", 3, at=now), "battery_pct", "Infinity"),
            "battery_pct: Input should be a finite",
        ),
        (literal(smoke("sec-bad", 4, at=now), "smoke_obscuration_pct_per_m", "-Infinity"), "finite number"),
        (literal(smoke("sec-bad", 5, at=now), "temperature_c", "1e999"), "finite number"),
        (json.dumps(smoke("sec-bad", 6, at=now + timedelta(days=1))).encode(), "ahead of the hub clock"),
        (
            json.dumps(smoke("sec-bad", 7, at=now + timedelta(days=365 * 50))).encode(),
            "ahead of the hub clock",
        ),
        (json.dumps(smoke("sec-bad", 8, at=now - timedelta(days=31))).encode(), "older than 30 days"),
        (json.dumps(smoke("sec-bad", 9, at=datetime(1970, 1, 1, tzinfo=UTC))).encode(), "older than 30 days"),
        (json.dumps(smoke("sec-victim", 10, at=now)).encode(), "does not match topic"),
        (json.dumps(smoke("sec-bad", 11, at=now) | {"__class__": "x"}).encode(), "Extra inputs"),
    ]
    bad = Publisher(port, "sec-bad", creds["sec-bad"])
    good = Publisher(port, "sec-good", creds["sec-good"])
    done = threading.Event()
    sender = threading.Thread(target=good_traffic, args=(good, "sec", "sec-good", done))
    sender.start()
    for payload, _ in hostile:
        bad.publish(own, payload).wait_for_publish(5)
    # the ACL: publishing on another device's topic is dropped by the broker, never reaching the hub
    bad.publish(topic("sec", "sec-victim"), smoke("sec-victim", 1, at=now, alarm=True)).wait_for_publish(5)
    bad.publish(own, smoke("sec-bad", 100, at=now)).wait_for_publish(5)
    sender.join(30)
    assert done.is_set()
    assert poll(lambda: good.acked == GOOD_MESSAGES, timeout=15)
    bad.close()
    good.close()

    stored = "SELECT count(*) FROM telemetry_smoke WHERE device_id = %s"
    assert poll(lambda: count(database_url, stored, "sec-good") == GOOD_MESSAGES, timeout=15), hub.log()
    assert count(
        database_url, "SELECT count(DISTINCT seq) FROM telemetry_smoke WHERE device_id = 'sec-good'"
    ) == (GOOD_MESSAGES)
    assert poll(lambda: count(database_url, stored, "sec-bad") == 1, timeout=10), (
        "the bad device's one good reading"
    )
    dead = "SELECT count(*) FROM dead_letters WHERE topic LIKE 'sc/v1/sec/%%'"
    assert poll(lambda: count(database_url, dead) == len(hostile), timeout=10), count(database_url, dead)
    with psycopg.connect(database_url) as c:
        rows = c.execute(
            "SELECT topic, reason, payload_size, length(payload_head) FROM dead_letters "
            "WHERE topic LIKE 'sc/v1/sec/%%' ORDER BY id"
        ).fetchall()
    assert {r[0] for r in rows} == {own}, "nothing of the hostile device's reached another device's topic"
    for (payload, expected), (_, reason, size, head) in zip(hostile, rows, strict=True):
        assert expected in reason, (expected, reason)
        assert size == len(payload) and head == min(len(payload), 512)
    assert count(database_url, stored, "sec-victim") == 0
    assert count(database_url, "SELECT count(*) FROM alerts WHERE subject = 'sec-victim'") == 0
    assert count(database_url, "SELECT count(*) FROM device_state WHERE device_id = 'sec-victim'") == 0


class Listener:
    """A bare MQTT client: connects, subscribes, and records what it receives and why it was refused."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.received: list[str] = []
        self.refused: str | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.granted: list[Any] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username is not None:
            c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.received.append(m.topic)
        c.on_subscribe = self._on_subscribe
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        self.client = c

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self.connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        self.granted = reasons
        self.subscribed.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_broker_refuses_strangers_eavesdroppers_and_giant_packets(
    hub: HubProcess, conn: psycopg.Connection[Any], database_url: str
) -> None:
    creds = devices(conn, "secb", ["secb-a", "secb-b"])
    hub.start()
    port = int(hub.env["HUB_MQTT_PORT"])

    anonymous = Listener(port, None, None)
    assert anonymous.connected.wait(10)
    assert anonymous.refused, "anonymous clients must be refused"
    anonymous.close()
    with pytest.raises(ConnectionRefusedError):
        Publisher(port, "secb-a", creds["secb-b"])  # another device's password

    # a device may not read other devices' traffic, even with a wildcard subscription
    spy = Listener(port, "secb-a", creds["secb-a"])
    assert spy.connected.wait(10) and spy.refused is None
    spy.client.subscribe("sc/v1/#", qos=1)
    assert spy.subscribed.wait(10)

    # a packet beyond the broker's max_packet_size: the broker drops the sender's connection
    giant = Publisher(port, "secb-a", creds["secb-a"])
    disconnected = threading.Event()
    giant.client.on_disconnect = lambda *_a: disconnected.set()
    giant.publish(topic("secb", "secb-a"), b"{" + b" " * 300_000 + b"}")
    assert disconnected.wait(10), "the broker must refuse a packet over max_packet_size"
    giant.client.loop_stop()

    b = Publisher(port, "secb-b", creds["secb-b"])
    for seq in range(20):
        b.publish(topic("secb", "secb-b"), smoke("secb-b", seq, at=datetime.now(UTC)))
    assert poll(lambda: b.acked == 20, timeout=10)
    b.close()
    stored = "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'secb-b'"
    assert poll(lambda: count(database_url, stored) == 20, timeout=10), hub.log()
    time.sleep(0.3)
    spy.close()
    assert spy.received == [], "a device's wildcard subscription must not see other devices' messages"
    assert count(database_url, "SELECT count(*) FROM dead_letters WHERE topic LIKE 'sc/v1/secb/%%'") == 0, (
        "the giant packet never reached the hub"
    )
