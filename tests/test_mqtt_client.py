"""The hub's MQTT client against a real Mosquitto: PUBLISH packets split in bulk from the socket reach
the hub whole and in order, paho keeps the session (subscriptions, keep-alive), and a QoS 1 message the
hub never acknowledged is delivered again after a crash, while an acknowledged one is not."""

import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.auth import BrokerAccount, hash_password, write_auth_files
from hub.ingest.client import BatchingClient
from hub.ingest.frames import Publish
from tests.support.services import Broker

PASSWORD = "client-test-password"


@pytest.fixture
def auth_broker(broker: Broker) -> Broker:
    write_auth_files(
        broker.auth_dir,
        [
            BrokerAccount("hub", hash_password(PASSWORD), read_topics=("t/#",)),
            BrokerAccount("dev", hash_password(PASSWORD), write_topics=("t/#",)),
        ],
        None,
    )
    broker.reload()
    return broker


class Receiver:
    """A BatchingClient with the hub's settings (persistent session, manual acknowledgement)."""

    def __init__(self, broker: Broker, client_id: str, keepalive: int = 60) -> None:
        self.received: list[Publish] = []
        self.slow_path = 0
        self.chunks = 0
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        c = BatchingClient(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True
        )
        c.username_pw_set("hub", PASSWORD)
        c.on_connect = lambda cl, _u, _f, _r, _p: cl.subscribe("t/#", qos=1)
        c.on_subscribe = lambda *_: self.subscribed.set()
        c.on_message = self._one
        c.on_publishes = self._many
        c.connect(host="127.0.0.1", port=broker.port, keepalive=keepalive)
        c.loop_start()
        self.client = c

    def _one(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.slow_path += 1
            self.received.append(Publish(m.topic, bytes(m.payload), m.mid, m.qos))

    def _many(self, messages: list[Publish]) -> None:
        with self._lock:
            self.chunks += 1
            self.received += messages

    def wait_for(self, n: int, timeout: float = 20) -> list[Publish]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"received {len(self.received)} of {n}")

    def crash(self) -> None:
        """Gone without DISCONNECT and without acknowledging: the broker keeps the session."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None
        sock.close()


@pytest.fixture
def publisher(auth_broker: Broker) -> Iterator[mqtt.Client]:
    p = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dev")
    p.username_pw_set("dev", PASSWORD)
    p.max_inflight_messages_set(1000)
    p.connect("127.0.0.1", auth_broker.port)
    p.loop_start()
    yield p
    p.disconnect()
    p.loop_stop()


def _publish(p: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [p.publish(t, payload, qos=1) for t, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def test_a_burst_arrives_whole_and_in_order_mostly_in_bulk(
    auth_broker: Broker, publisher: mqtt.Client
) -> None:
    r = Receiver(auth_broker, "bulk")
    try:
        assert r.subscribed.wait(10)
        sent = [(f"t/d{i % 7}", b'{"n":%d}' % i + b"x" * (i % 300)) for i in range(3000)]
        sent.insert(1500, ("t/big", b"y" * 200_000))  # larger than a read chunk: paho's reader finishes it
        _publish(publisher, sent)
        got = r.wait_for(len(sent))
        assert [(m.topic, m.payload) for m in got] == sent
        assert all(m.qos == 1 and 1 <= m.mid <= 65535 for m in got)
        assert r.chunks > 0 and r.slow_path < len(sent) / 10
    finally:
        r.client.disconnect()
        r.client.loop_stop()


def test_keep_alive_and_subscriptions_still_run_through_paho(
    auth_broker: Broker, publisher: mqtt.Client
) -> None:
    r = Receiver(auth_broker, "alive", keepalive=1)
    try:
        assert r.subscribed.wait(10)
        time.sleep(3.5)  # several keep-alive periods with nothing to read but PINGRESPs
        assert r.client.is_connected()
        _publish(publisher, [("t/after", b"1")])
        assert [m.payload for m in r.wait_for(1)] == [b"1"]
    finally:
        r.client.disconnect()
        r.client.loop_stop()


def test_unacknowledged_messages_come_again_after_a_crash(
    auth_broker: Broker, publisher: mqtt.Client
) -> None:
    first = Receiver(auth_broker, "crashing")
    assert first.subscribed.wait(10)
    sent = [("t/d", b"%d" % i) for i in range(200)]
    _publish(publisher, sent)
    got = first.wait_for(len(sent))
    acked = got[:120]
    first.client.ack_many([m.mid for m in acked])
    time.sleep(0.5)  # the loop thread writes the PUBACKs
    first.crash()

    second = Receiver(auth_broker, "crashing")
    try:
        again = second.wait_for(80)
        time.sleep(1.0)  # nothing beyond the unacknowledged ones
        assert sorted(m.payload for m in second.received) == sorted(m.payload for m in got[120:])
        assert len(again) == 80
    finally:
        second.client.disconnect()
        second.client.loop_stop()
