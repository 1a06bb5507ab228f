"""Device-side MQTT: one connection per device, with the retained status and Last Will of the contract."""

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_simulators.site import SimDevice

PREFIX = "sc/v1"


def topic(d: SimDevice, channel: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{d.community}/{d.kind}/{d.id}/{channel}"


class DeviceLink:
    """A device's own broker connection: its credentials, its Last Will, its retained status."""

    def __init__(
        self, device: SimDevice, password: str, host: str, port: int, *, qos: int = 1, role: str = "device"
    ) -> None:
        """`role` other than "device" is a second connection of the same device (a scenario driving it
        while the fleet runs): it has its own client id and no Last Will, so the fleet's stays in force."""
        self.device = device
        self.announce = role == "device"
        self.qos = qos
        self.errors = 0
        self._connected = threading.Event()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"dev-{device.id}" if self.announce else f"{role}-{device.id}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(device.id, password)
        if self.announce:
            c.will_set(topic(device, "status"), json.dumps({"state": "offline"}), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.max_queued_messages_set(10_000)
        self._client = c
        c.connect_async(host, port, keepalive=30)
        c.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.errors += 1
            return
        if self.announce:
            client.publish(topic(self.device, "status"), json.dumps({"state": "online"}), qos=1, retain=True)
        self._connected.set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, channel: str, payload: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic(self.device, channel), json.dumps(payload), qos=self.qos)

    def close(self, *, graceful: bool = True) -> None:
        if graceful and self.announce:
            self._client.publish(
                topic(self.device, "status"), json.dumps({"state": "offline"}), qos=1, retain=True
            ).wait_for_publish(5)
            self._client.disconnect()
        self._client.loop_stop()
