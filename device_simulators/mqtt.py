"""Broker connections for simulated devices.

Two ways in: each device on its own account and connection (the ACL then proves a device can only speak
for itself, and its Last Will announces when it drops), or many devices over a few connections of the
hub's `loadgen` account, which may publish for every device (load tests, or when no credentials file is
at hand). With several broker addresses (a cluster) the connections spread over the nodes and each moves
to the next node when its own dies.
"""

import json
import os
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from device_simulators.site import SimDevice
from hub.broker.failover import Address, Failover

PREFIX = "sc/v1"
LOADGEN_USER = "loadgen"


class LinkError(RuntimeError):
    """A device cannot be put on the broker: no credentials, refused, or no answer."""


def topic(d: SimDevice, channel: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{d.community}/{d.kind}/{d.id}/{channel}"


def status_body(state: str) -> bytes:
    return json.dumps({"state": state}).encode()


@dataclass
class Counters:
    """What the status line shows. paho's network threads update it, hence the lock."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, sent: int = 0, acked: int = 0, errors: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.acked += acked
            self.errors += errors


class Connection:
    """One paho client. A connection with a Last Will announces "online" (retained) each time it
    connects, as the contract asks of devices."""

    def __init__(
        self,
        client_id: str,
        username: str,
        password: str,
        addresses: Sequence[Address],
        *,
        counters: Counters,
        will_topic: str | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    ) -> None:
        self.client_id = client_id
        self.counters = counters
        self.will_topic = will_topic
        self.connected = threading.Event()
        self.answered = threading.Event()
        self.refused: str | None = None
        self.rejected: dict[int, str] = {}
        self._closing = False
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        c.username_pw_set(username, password)
        if will_topic:
            c.will_set(will_topic, status_body("offline"), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_publish = self._on_publish
        c.max_queued_messages_set(100_000)
        self.client = c
        self._failover = Failover(addresses, start=zlib.crc32(client_id.encode()))
        c.connect_async(*self._failover.current, keepalive=30)
        c.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            self.counters.add(errors=1)
        else:
            if self.will_topic:
                self.publish(self.will_topic, status_body("online"), qos=1, retain=True)
            self.connected.set()
        self.answered.set()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        """A device on a clustered broker whose node died tries the next node."""
        self.connected.clear()
        if not self._closing and reason.is_failure:
            self.counters.add(errors=1)
            self._failover.move_on(client)

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        self._failover.move_on(client)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.rejected[mid] = str(reason)
            self.counters.add(errors=1)
        else:
            self.counters.add(acked=1)

    def publish(self, topic_: str, body: bytes, *, qos: int, retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic_, body, qos=qos, retain=retain)
        # Not connected is no loss at QoS 1: paho keeps the message and sends it on reconnecting.
        queued = info.rc == mqtt.MQTT_ERR_NO_CONN and qos > 0
        self.counters.add(sent=1, errors=int(info.rc != mqtt.MQTT_ERR_SUCCESS and not queued))
        return info

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Vanish without DISCONNECT, as a device losing power does: the broker publishes the Last Will."""
        self._closing = True
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()


class Transport:
    """The connections of one command and which of them publishes for which device."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.devices: list[SimDevice] = []
        self._route: dict[str, Connection] = {}
        self._connections: list[Connection] = []

    def add(self, connection: Connection, devices: Iterable[SimDevice]) -> None:
        self._connections.append(connection)
        for d in devices:
            self.devices.append(d)
            self._route[d.id] = connection

    def connected(self) -> int:
        return sum(c.connected.is_set() for c in self._connections)

    @property
    def connections(self) -> int:
        return len(self._connections)

    def wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for c in self._connections:
            c.answered.wait(max(0.0, deadline - time.monotonic()))
            if not c.connected.is_set():
                why = c.refused or "no answer"
                raise LinkError(
                    f"{c.client_id} could not connect ({why}): check the credentials and the port"
                )

    def publish(
        self, device: SimDevice, channel: str, body: bytes, *, qos: int, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        return self._route[device.id].publish(topic(device, channel), body, qos=qos, retain=retain)

    def drop(self, device: SimDevice) -> None:
        connection = self._route[device.id]
        if connection.will_topic != topic(device, "status"):
            raise ValueError(f"{device.id} has no connection of its own with a Last Will to drop")
        connection.drop()

    def close(self) -> None:
        for c in self._connections:
            c.close()


def per_device(
    devices: list[SimDevice],
    credentials: dict[str, str],
    addresses: Sequence[Address],
    *,
    role: str,
    counters: Counters,
    wills: frozenset[str] = frozenset(),
) -> Transport:
    """Each device on its own account. The fleet (`role="device"`) gives every device its Last Will;
    other roles are second connections of a device (a scenario driving it while the fleet runs), with
    their own client id and a Last Will only for the devices in `wills`, so the fleet's stays in force."""
    missing = [d.id for d in devices if d.id not in credentials]
    if missing:
        raise LinkError(
            f"no credentials for {len(missing)} device(s), e.g. {missing[0]}: run `hub-sim provision`, "
            "or publish as loadgen with --loadgen-password"
        )
    transport = Transport(counters)
    for d in devices:
        has_will = role == "device" or d.id in wills
        client_id = f"dev-{d.id}" if role == "device" else f"{role}-{d.id}"
        will = topic(d, "status") if has_will else None
        transport.add(
            Connection(client_id, d.id, credentials[d.id], addresses, counters=counters, will_topic=will),
            [d],
        )
    return transport


def shared(
    devices: list[SimDevice],
    password: str,
    addresses: Sequence[Address],
    *,
    connections: int,
    counters: Counters,
    wills: frozenset[str] = frozenset(),
) -> Transport:
    """Devices spread over `connections` loadgen connections. A Last Will names one topic, so a device
    that must be able to drop (see `wills`) gets a loadgen connection of its own."""
    transport = Transport(counters)
    tag = f"loadgen-{os.getpid()}"
    pooled = [d for d in devices if d.id not in wills]
    n = max(1, min(connections, len(pooled)))
    for i in range(n if pooled else 0):
        conn = Connection(f"{tag}-{i}", LOADGEN_USER, password, addresses, counters=counters)
        transport.add(conn, pooled[i::n])
    for d in devices:
        if d.id in wills:
            will = topic(d, "status")
            transport.add(
                Connection(
                    f"{tag}-{d.id}", LOADGEN_USER, password, addresses, counters=counters, will_topic=will
                ),
                [d],
            )
    return transport


class Pacer:
    """Keeps publishing at or under `rate` messages per second (None: as fast as possible)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if self.rate is None:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(now, self._next) + 1 / self.rate


class Sender:
    """Every publish of a command goes through here: JSON, QoS and the --rate limit."""

    def __init__(self, transport: Transport, *, qos: int, pacer: Pacer) -> None:
        self.transport = transport
        self.qos = qos
        self.pacer = pacer
        self.by_channel: Counter[str] = Counter()
        """Messages per channel: only telemetry and events are stored, so only they can be lost."""

    def send(
        self, device: SimDevice, channel: str, payload: dict[str, Any] | bytes, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        self.pacer.wait()
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        qos = 1 if channel == "status" else self.qos
        self.by_channel[channel] += 1
        return self.transport.publish(device, channel, body, qos=qos, retain=retain)
