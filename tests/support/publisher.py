"""A QoS 1 publisher that counts what the broker acknowledged — the basis of every loss count."""

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

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
    ) -> None:
        self.acked = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv311)
        c.username_pw_set(username, password)
        if will:
            c.will_set(will[0], will[1], qos=1, retain=True)
        self._refused: str | None = None
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port, keepalive=5)
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

    def _on_publish(self, *_a: Any) -> None:
        with self._lock:
            self.acked += 1

    def publish(
        self, topic: str, payload: dict[str, Any] | bytes, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.publish(topic, body, qos=1, retain=retain)

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
