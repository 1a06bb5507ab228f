"""Running a fleet: every device publishing telemetry at its kind's interval and events as they happen."""

import heapq
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from device_simulators.models import DeviceModel
from device_simulators.mqtt import Sender, status_body

INTERVAL_S = {"smoke_detector": 60.0, "lamppost": 60.0, "manhole": 60.0, "access_gate": 30.0}
EVENT_POLL_S = 1.0


def run(
    models: list[DeviceModel],
    sender: Sender,
    *,
    seconds: float | None,
    speed: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Publish until `seconds` pass or `stop` is set. `speed` shortens every interval and makes events
    that many times more frequent (2 = twice as often); device time stays the wall clock, which is what
    the hub accepts.

    Each device reports at its own seeded phase within its interval, as devices powered up at different
    times do: a fleet whose devices all reported at start would send every reading of a minute in its
    first second and nothing for the rest of it, bursts of 10,000 messages for a 10,000-device fleet."""
    start = monotonic()
    due = [
        (start + m.trait("report-phase", 0, INTERVAL_S[m.device.kind] / speed), i)
        for i, m in enumerate(models)
    ]
    heapq.heapify(due)
    events_until = clock()
    next_poll = start + EVENT_POLL_S
    while not stop.is_set():
        now_m = monotonic()
        if seconds is not None and now_m - start >= seconds:
            break
        now = clock()
        while due and due[0][0] <= now_m:
            at, i = heapq.heappop(due)
            m = models[i]
            sender.send(m.device, "telemetry", m.telemetry(now))
            heapq.heappush(due, (max(at + INTERVAL_S[m.device.kind] / speed, now_m), i))
        if now_m >= next_poll:
            for m in models:
                for _, payload in m.events(events_until, now, speed=speed):
                    sender.send(m.device, "event", payload)
            events_until, next_poll = now, now_m + EVENT_POLL_S
        wake = min(due[0][0] if due else now_m + 1, next_poll)
        stop.wait(max(0.0, min(wake - monotonic(), 0.5)))


def announce(models: list[DeviceModel], sender: Sender, state: str, *, timeout_s: float = 10) -> None:
    """Publish each device's retained status: shared loadgen connections carry no Last Will per device,
    so a fleet on them says online and offline itself; a stopping per-device fleet says offline (a clean
    DISCONNECT discards the Will)."""
    infos: list[mqtt.MQTTMessageInfo] = [
        sender.send(m.device, "status", status_body(state), retain=True) for m in models
    ]
    deadline = time.monotonic() + timeout_s
    for info in infos:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError):
            continue
