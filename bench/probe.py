"""End-to-end visibility latency: publish a tagged message once a second, poll until a query sees it.

Stored rows carry the hub's receive time, not their commit time, so the database alone cannot say
how long a reading waits before an operator's query can see it. The probe measures exactly that:
from just before its PUBLISH is written to the socket to the start of the first query whose snapshot
contains the row. Polling every 5 ms bounds the error at about 5 ms plus one query.

Probe messages are ordinary, valid smoke-detector readings from a dedicated registered device, sent on
their own connection, so they queue behind the load at the broker and in the hub like any message.

`AlertProbe` does the same with a smoke alarm a second, each from a detector of its own, and waits for
the case: publish → a case for it visible to another session, i.e. committed with the batch that
raised the alert. Both ends are read on this process's monotonic clock, so no clocks are compared.
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
        super().__init__(name=type(self).__name__.lower(), daemon=True)
        self._url = database_url
        self._device = device
        self._prefix = prefix
        self._topic = encode_topic(f"{prefix}/{device.community}/{device.kind}/{device.id}/telemetry")
        self._publisher = Publisher(
            host, port, client_id=f"bench-{self.name}", username=username, password=password
        )
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

    def _message(self, seq: int, ts: str) -> tuple[bytes, bytes]:
        """The probe's `seq`-th message: (encoded topic, payload)."""
        payload = (
            f'{{"device_id":"{self._device.id}","ts":"{ts}","seq":{seq},'
            '"smoke_obscuration_pct_per_m":0.1,"temperature_c":21.0,"battery_pct":90.0,"alarm":false}'
        )
        return self._topic, payload.encode()

    def _visible(self, conn: psycopg.Connection[Any], seqs: list[int]) -> list[int]:
        """Which of these probes another session sees committed."""
        rows = conn.execute(
            "SELECT seq FROM telemetry_smoke WHERE device_id = %s AND seq = ANY(%s)",
            (self._device.id, seqs),
        ).fetchall()
        return [int(s) for (s,) in rows]

    def _loop(self, conn: psycopg.Connection[Any]) -> None:
        next_at = self._first_at
        seq = 0
        while not self._halt.is_set():
            now = time.monotonic()
            if self._publishing.is_set() and now >= next_at:
                seq += 1
                topic, payload = self._message(seq, datetime.now(UTC).isoformat())
                published_at = time.monotonic()
                self._publisher.publish_many([(topic, payload)], qos=1)
                with self._lock:
                    self._outstanding[seq] = published_at
                self.sent += 1
                next_at = max(next_at + INTERVAL_S, now)
            self._publisher.poll()
            with self._lock:
                wanted = list(self._outstanding)
            if wanted:
                queried_at = time.monotonic()
                seen = self._visible(conn, wanted)
                with self._lock:
                    for s in seen:
                        self.latencies_s.append(queried_at - self._outstanding.pop(s))
            time.sleep(POLL_S)


class AlertProbe(Probe):
    """One smoke alarm a second, the n-th from `devices[n - 1]`: each opens an alert of `smoke-alarm` on
    a subject with no open case, so each opens a case of its own (fire never folds into a storm)."""

    def __init__(
        self,
        database_url: str,
        host: str,
        port: int,
        username: str,
        password: str,
        prefix: str,
        devices: list[Device],
    ) -> None:
        super().__init__(database_url, host, port, username, password, prefix, devices[0])
        self._devices = devices

    def _message(self, seq: int, ts: str) -> tuple[bytes, bytes]:
        d = self._devices[(seq - 1) % len(self._devices)]
        topic = encode_topic(f"{self._prefix}/{d.community}/{d.kind}/{d.id}/telemetry")
        payload = (
            f'{{"device_id":"{d.id}","ts":"{ts}","seq":1,'
            '"smoke_obscuration_pct_per_m":3.5,"temperature_c":24.0,"battery_pct":90.0,"alarm":true}'
        )
        return topic, payload.encode()

    def _visible(self, conn: psycopg.Connection[Any], seqs: list[int]) -> list[int]:
        by_device = {self._devices[(s - 1) % len(self._devices)].id: s for s in seqs}
        rows = conn.execute(
            "SELECT DISTINCT device_id FROM cases WHERE device_id = ANY(%s)", (list(by_device),)
        ).fetchall()
        return [by_device[d] for (d,) in rows]
