"""The load generator: one process per publisher, paced to a fixed rate, counting PUBACKs.

Payload values are normal-day readings (bench/payloads.py), validated against the hub's contract,
so the hub decodes, stores and evaluates what it meets in production and the default rule pack stays
quiet. Each device gets a few pre-rendered value variants at start; per message only the envelope
(device_id, ts, seq) is formatted, which keeps the generator's own CPU cost out of the way of the
hub on a small machine.

`ts` is the wall-clock time at which the message's batch is written to the socket (batches are at
most a tick, 2 ms, apart), so `received_at - time` of a stored row is the publish-to-hub latency.
`seq` counts per device from 1, so every (device_id, ts, seq) is unique without coordination.
"""

import os
import queue
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from typing import Any

from bench import payloads
from bench.fleet import Device
from bench.wire import MAX_PACKET_ID, Publisher, encode_topic

VARIANTS = 8
# One in four gate messages is an access event: it exercises the event path and the HMAC pseudonym.
GATE_EVENT_EVERY = 4
TICK_S = 0.002
# At most this much time's worth of messages in one write: after a stall, catch up in steps rather
# than in one burst that would measure the broker's buffering instead of the hub.
MAX_BURST_S = 0.05
# Well below the 16-bit packet-id space, so ids never collide while in flight.
MAX_IN_FLIGHT = min(20_000, MAX_PACKET_ID - 1)
ACK_GRACE_S = 30.0
# Publishing that falls this far behind schedule stops, and the shortfall is reported.
OVERRUN_S = 30.0


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    host: str
    port: int
    username: str
    password: str
    prefix: str
    devices: tuple[Device, ...]
    rate: float
    seconds: float
    qos: int
    connections: int
    seed: int


@dataclass
class WorkerResult:
    index: int
    published: int = 0
    acked: int = 0
    target: int = 0
    cpu_s: float = 0.0
    first_publish_wall: float = 0.0
    last_publish_wall: float = 0.0
    publish_s: float = 0.0
    unacked_at_end: int = 0
    notes: list[str] = field(default_factory=list)


def render_variants(device: Device, prefix: str, seed: int) -> list[tuple[bytes, bytes]]:
    """(encoded topic, JSON fragment after the envelope) pairs, each checked against the contract."""
    root = f"{prefix}/{device.community}/{device.kind}/{device.id}"
    out = []
    for channel, values in payloads.variants(device, VARIANTS, seed=seed, event_every=GATE_EVENT_EVERY):
        tail = payloads.fragment(values)
        payloads.check(device, channel, tail)
        out.append((encode_topic(f"{root}/{channel}"), tail.encode()))
    return out


class Lane:
    """One connection and the devices it publishes for, visited round-robin."""

    def __init__(self, publisher: Publisher, devices: list[Device], prefix: str, seed: int) -> None:
        self.publisher = publisher
        self._ids = [d.id.encode() for d in devices]
        self._variants = [render_variants(d, prefix, seed) for d in devices]
        self._seq = [0] * len(devices)
        self._cursor = 0

    def publish(self, count: int, qos: int) -> int:
        ts = datetime.now(UTC).isoformat().encode()
        batch: list[tuple[bytes, bytes]] = []
        n = len(self._ids)
        cursor = self._cursor
        for _ in range(count):
            seq = self._seq[cursor] + 1
            self._seq[cursor] = seq
            topic, fragment = self._variants[cursor][seq % VARIANTS]
            batch.append(
                (topic, b'{"device_id":"%b","ts":"%b","seq":%d%b}' % (self._ids[cursor], ts, seq, fragment))
            )
            cursor = cursor + 1 if cursor + 1 < n else 0
        self._cursor = cursor
        return self.publisher.publish_many(batch, qos)


def run_worker(
    spec: WorkerSpec,
    events: Any,
    go: Event,
    start_at: Any,
    progress: Any,
) -> None:
    """Process entry point. `events` is a multiprocessing queue of ("ready"|"error"|"done", ...);
    `start_at` a shared double (monotonic clock, shared by all processes on Linux); `progress` a shared
    array of (published, acked) pairs per worker, written without a lock (monitoring only)."""
    # Ctrl-C reaches the whole process group; the parent decides when publishers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lanes: list[Lane] = []
    try:
        for c in range(spec.connections):
            publisher = Publisher(
                spec.host,
                spec.port,
                client_id=f"bench-loadgen-{spec.index}-{c}",
                username=spec.username,
                password=spec.password,
            )
            lanes.append(Lane(publisher, list(spec.devices[c :: spec.connections]), spec.prefix, spec.seed))
        events.put(("ready", spec.index))
        if not go.wait(120):
            return
        result = _publish(spec, lanes, float(start_at.value), progress)
        events.put(("done", spec.index, result))
    except Exception:
        events.put(("error", spec.index, traceback.format_exc()))
    finally:
        for lane in lanes:
            lane.publisher.close()


def _publish(spec: WorkerSpec, lanes: list[Lane], start: float, progress: Any) -> WorkerResult:
    result = WorkerResult(spec.index, target=round(spec.rate * spec.seconds))
    slot = 2 * spec.index
    delay = start - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    cpu0 = _cpu()
    result.first_publish_wall = time.time()
    n_lanes = len(lanes)
    published = 0
    max_burst = max(1, int(spec.rate * MAX_BURST_S))
    while published < result.target:
        now = time.monotonic()
        elapsed = now - start
        if elapsed > spec.seconds + OVERRUN_S:
            result.notes.append(
                f"worker {spec.index}: {published} of {result.target} published when it gave up "
                f"{OVERRUN_S:.0f}s past schedule"
            )
            break
        due = min(result.target, int(elapsed * spec.rate) + 1) - published
        if due > 0 and spec.qos and any(lane.publisher.in_flight > MAX_IN_FLIGHT for lane in lanes):
            # The broker is not acknowledging: wait for it rather than overrun the packet-id space.
            for lane in lanes:
                lane.publisher.poll(0.01)
            continue
        if due > 0:
            due = min(due, max_burst)
            for i, lane in enumerate(lanes):
                # Global message k goes to lane k % n_lanes: count those k in [published, published + due).
                share = (published + due - i + n_lanes - 1) // n_lanes - (
                    published - i + n_lanes - 1
                ) // n_lanes
                if share > 0:
                    lane.publish(share, spec.qos)
            published += due
        for lane in lanes:
            lane.publisher.poll()
        progress[slot] = sum(lane.publisher.published for lane in lanes)
        progress[slot + 1] = sum(lane.publisher.acked for lane in lanes)
        wait = start + (published + 1) / spec.rate - time.monotonic()
        if wait > 0:
            time.sleep(min(max(wait, TICK_S), 0.05))
    result.last_publish_wall = time.time()
    result.publish_s = time.monotonic() - start
    for lane in lanes:
        if not lane.publisher.wait_acked(ACK_GRACE_S):
            result.notes.append(
                f"worker {spec.index}: {lane.publisher.in_flight} message(s) without PUBACK after "
                f"{ACK_GRACE_S:.0f}s"
            )
    result.cpu_s = _cpu() - cpu0
    result.published = sum(lane.publisher.published for lane in lanes)
    result.acked = sum(lane.publisher.acked for lane in lanes)
    result.unacked_at_end = result.published - result.acked
    progress[slot] = result.published
    progress[slot + 1] = result.acked
    return result


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def drain_events(events: Any, timeout_s: float) -> list[Any]:
    """Whatever the workers reported within `timeout_s` (at least one item if any arrives)."""
    items: list[Any] = []
    try:
        items.append(events.get(timeout=timeout_s))
        while True:
            items.append(events.get_nowait())
    except queue.Empty:
        pass
    return items
