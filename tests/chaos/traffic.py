"""Steady QoS 1 traffic whose every message is known, so loss and duplication can be counted exactly.

Each message's `seq` is its global index in the run, rendered once: a resend after a lost connection is
byte for byte the same message, as a real device's QoS 1 retry is. Mosquitto acknowledges a connection's
QoS 1 PUBLISHes in the order it received them (MQTT 3.1.1, 4.6), so "acknowledged" is a prefix of the
run: messages[:acked]. Those are exactly the messages the broker answered for; lost = acknowledged
messages the database does not hold.

The raw-socket publisher of the benchmark (bench/wire.py) is used instead of paho so that a thousand
messages a second cost the test process a few per cent of a core, not the hub's CPU it is measuring.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.wire import Publisher, WireError, encode_topic

TICK_S = 0.01
RECONNECT_S = 0.5


@dataclass(frozen=True)
class Device:
    id: str
    community: str
    building: str

    @property
    def topic(self) -> str:
        return f"sc/v1/{self.community}/smoke_detector/{self.id}/telemetry"


def register(conn: psycopg.Connection[Any], devices: list[Device]) -> None:
    """Straight into the registry: the traffic publishes as the `loadgen` account, needing no passwords."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO communities (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
            [(c, c) for c in sorted({d.community for d in devices})],
        )
        cur.executemany(
            "INSERT INTO devices (id, kind, community_id, building, grid) VALUES (%s, 'smoke_detector', %s, %s, 'g1')",
            [(d.id, d.community, d.building) for d in devices],
        )


def reading(device: Device, seq: int, at: datetime, *, alarm: bool = False) -> bytes:
    return json.dumps(
        {
            "device_id": device.id,
            "ts": at.isoformat(),
            "seq": seq,
            "smoke_obscuration_pct_per_m": 4.0 if alarm else 0.1,
            "temperature_c": 21.5,
            "battery_pct": 80.0,
            "alarm": alarm,
        },
        separators=(",", ":"),
    ).encode()


class Traffic(threading.Thread):
    """Publishes round-robin over `devices` at `rate` msg/s (changeable while running) until stopped.

    A lost connection (broker restarted) is reopened every half second, and the unacknowledged tail
    is sent again first, as devices do.
    """

    def __init__(
        self,
        port: int,
        password: str,
        devices: list[Device],
        rate: float,
        *,
        name: str,
        seq_base: int = 0,
    ) -> None:
        super().__init__(name=f"traffic-{name}", daemon=True)
        self._port = port
        self._password = password
        self._client_id = f"chaos-{name}"
        self.devices = devices
        self.rate = rate
        self._seq_base = seq_base
        self._topics = {d.id: encode_topic(d.topic) for d in devices}
        self.messages: list[tuple[Device, bytes]] = []
        self.alarming: set[str] = set()
        self._base = 0
        self._conn: Publisher | None = None
        self._acked = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.connections = 0
        self.error: BaseException | None = None

    @property
    def acked(self) -> int:
        """How many of `messages` (from the first) the broker has acknowledged."""
        with self._lock:
            return self._acked

    @property
    def published(self) -> int:
        return len(self.messages)

    def seq_range(self) -> tuple[int, int]:
        return self._seq_base, self._seq_base + self.acked

    def raise_alarm(self, device_ids: list[str]) -> None:
        """From now on these devices report smoke: the `smoke-alarm` rule must open one alert each."""
        self.alarming |= set(device_ids)

    def stop(self, drain_timeout_s: float = 60) -> None:
        """Stop publishing, and wait until everything published is acknowledged (resending if need be)."""
        self.rate = 0
        deadline = time.monotonic() + drain_timeout_s
        while self.acked < self.published and time.monotonic() < deadline and self.error is None:
            time.sleep(0.05)
        self._halt.set()
        self.join(10)
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by stop(), so a broken generator fails the test
            self.error = exc
        finally:
            if self._conn is not None:
                self._conn.close()

    def _connect(self) -> Publisher | None:
        try:
            conn = Publisher(
                "127.0.0.1",
                self._port,
                client_id=self._client_id,
                username="loadgen",
                password=self._password,
            )
        except (OSError, ConnectionRefusedError):
            return None
        with self._lock:
            self._base = self._acked
        pending = self.messages[self._base :]
        if pending:
            conn.publish_many(((self._topics[d.id], body) for d, body in pending), qos=1)
        return conn

    def _loop(self) -> None:
        started = time.monotonic()
        budget = 0.0
        last = started
        next_connect = 0.0
        while not self._halt.is_set():
            now = time.monotonic()
            budget = min(budget + self.rate * (now - last), max(self.rate, 1.0))
            last = now
            if self._conn is None and now >= next_connect:
                self._conn = self._connect()
                if self._conn is None:
                    next_connect = now + RECONNECT_S
                else:
                    self.connections += 1
            due = int(budget)
            fresh = [self._next() for _ in range(due)]
            budget -= due
            if self._conn is not None:
                try:
                    if fresh:
                        self._conn.publish_many(((self._topics[d.id], b) for d, b in fresh), qos=1)
                    self._conn.poll()
                    with self._lock:
                        self._acked = self._base + self._conn.acked
                except (OSError, WireError):
                    self._conn.close()
                    self._conn = None
                    next_connect = now + RECONNECT_S
            time.sleep(TICK_S)

    def _next(self) -> tuple[Device, bytes]:
        n = len(self.messages)
        device = self.devices[n % len(self.devices)]
        body = reading(device, self._seq_base + n, datetime.now(UTC), alarm=device.id in self.alarming)
        self.messages.append((device, body))
        return device, body


def wait_for(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> float | None:
    """Seconds until `check()` held, or None if it never did within the timeout."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(interval_s)
