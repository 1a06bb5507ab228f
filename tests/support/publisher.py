"""A QoS 1 publisher that counts what the broker acknowledged — the basis of every loss count."""

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.failover import Address, Failover

T0 = datetime.now(UTC).replace(microsecond=0)


class Publisher:
    def __init__(
        self,
        port: int,
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        will: tuple[str, str] | None = None,
        addresses: Sequence[Address] = (),
    ) -> None:
        """`addresses`: the nodes of a cluster, first one first (then `port` is not used); on a lost
        connection the publisher moves to the next and paho sends again what was not acknowledged."""
        self.acked = 0
        self.acked_mids: set[int] = set()
        self.sent: dict[int, Any] = {}
        """mid → the key the caller gave `publish` (mids are unique below 65,535 messages)"""
        self._failover = Failover(addresses or [("127.0.0.1", port)])
        self._lock = threading.Lock()
        self._connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv311)
        c.username_pw_set(username, password)
        if will:
            c.will_set(will[0], will[1], qos=1, retain=True)
        self._refused: str | None = None
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.reconnect_delay_set(min_delay=1, max_delay=2)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.connect(*self._failover.current, keepalive=5)
        c.loop_start()
        answered = self._connected.wait(10)
        if not answered or self._refused:
            c.loop_stop()
            raise ConnectionRefusedError(self._refused or "no answer from the broker")
        self.client = c

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._failover.move_on(client)

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        self._failover.move_on(client)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        with self._lock:
            self.acked += 1
            self.acked_mids.add(mid)

    def publish(
        self, topic: str, payload: dict[str, Any] | bytes, *, retain: bool = False, key: Any = None
    ) -> mqtt.MQTTMessageInfo:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(topic, body, qos=1, retain=retain)
        if key is not None:
            self.sent[info.mid] = key
        return info

    def confirmed(self) -> set[Any]:
        """The keys of the messages the broker acknowledged."""
        with self._lock:
            return {k for mid, k in self.sent.items() if mid in self.acked_mids}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Vanish without DISCONNECT, as a device losing power does: the broker publishes its Last Will."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()


def smoke(
    device_id: str, seq: int, *, smoke_level: float = 0.1, alarm: bool = False, at: datetime | None = None
) -> dict[str, Any]:
    ts = at or (T0 + timedelta(milliseconds=seq))
    return {
        "device_id": device_id,
        "ts": ts.isoformat(),
        "seq": seq,
        "smoke_obscuration_pct_per_m": smoke_level,
        "temperature_c": 21.5,
        "battery_pct": 80.0,
        "alarm": alarm,
    }
