"""End-to-end visibility latency: publish a tagged message once a second, poll until a query sees it.

Stored rows carry the hub's receive time, not their commit time, so the database alone cannot say
how long a reading waits before an operator's query can see it. The probe measures exactly that:
from just before its PUBLISH is written to the socket to the start of the first query whose snapshot
contains the row. Polling every 5 ms bounds the error at about 5 ms plus one query.

Probe messages are ordinary, valid smoke-detector readings from a dedicated registered device, sent on
their own connection, so they queue behind the load at the broker and in the hub like any message.
"""

import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.fleet import Device
from bench.wire import Publisher, encode_topic

POLL_S = 0.005
INTERVAL_S = 1.0


class Probe(threading.Thread):
    def __init__(
        self,
        database_url: str,
        host: str,
        port: int,
        username: str,
        password: str,
        prefix: str,
        device: Device,
    ) -> None:
        super().__init__(name="probe", daemon=True)
        self._url = database_url
        self._device = device
        self._topic = encode_topic(f"{prefix}/{device.community}/{device.kind}/{device.id}/telemetry")
        self._publisher = Publisher(host, port, client_id="bench-probe", username=username, password=password)
        self._publishing = threading.Event()
        self._first_at = 0.0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._outstanding: dict[int, float] = {}
        self.latencies_s: list[float] = []
        self.sent = 0
        self.error: BaseException | None = None

    @property
    def acked(self) -> int:
        return self._publisher.acked

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._outstanding)

    def start_publishing(self, at: float) -> None:
        """Publish the first probe at monotonic time `at`, with the load, not before it: an early probe
        would stretch the received_at span that the throughput is computed from."""
        self._first_at = at
        self._publishing.set()
        if not self.is_alive():
            self.start()

    def stop_publishing(self) -> None:
        self._publishing.clear()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def run(self) -> None:
        try:
            with psycopg.connect(self._url, autocommit=True) as conn:
                self._loop(conn)
        except BaseException as exc:
            self.error = exc
        finally:
            self._publisher.close()

    def _loop(self, conn: psycopg.Connection[Any]) -> None:
        next_at = self._first_at
        seq = 0
        while not self._halt.is_set():
            now = time.monotonic()
            if self._publishing.is_set() and now >= next_at:
                seq += 1
                ts = datetime.now(UTC).isoformat()
                payload = (
                    f'{{"device_id":"{self._device.id}","ts":"{ts}","seq":{seq},'
                    '"smoke_obscuration_pct_per_m":0.1,"temperature_c":21.0,"battery_pct":90.0,"alarm":false}'
                ).encode()
                published_at = time.monotonic()
                self._publisher.publish_many([(self._topic, payload)], qos=1)
                with self._lock:
                    self._outstanding[seq] = published_at
                self.sent += 1
                next_at = max(next_at + INTERVAL_S, now)
            self._publisher.poll()
            with self._lock:
                wanted = list(self._outstanding)
            if wanted:
                queried_at = time.monotonic()
                rows = conn.execute(
                    "SELECT seq FROM telemetry_smoke WHERE device_id = %s AND seq = ANY(%s)",
                    (self._device.id, wanted),
                ).fetchall()
                with self._lock:
                    for (s,) in rows:
                        self.latencies_s.append(queried_at - self._outstanding.pop(s))
            time.sleep(POLL_S)
