"""Playing a scenario's timeline through real connections, with time compression.

Device time runs `compress` times faster than the wall clock, so five minutes of incident play in five
seconds while the hub, whose rule durations run on device time, sees five minutes. The scenario's device
clock also starts a little ahead of the wall clock (one step's gap plus a second): if the fleet is
running, its readings of the same devices then count as late for the rules and cannot interrupt the
incident. The hub refuses readings more than 10 minutes ahead of its clock, which bounds how long a
compressed scenario may be.
"""

import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from device_simulators.models import DeviceModel
from device_simulators.mqtt import Sender
from device_simulators.scenarios import Drop, Event, Reading, ScenarioError, Step

MAX_AHEAD_S = 9 * 60.0
"""How far ahead of the wall clock a scenario's device clock may run: the hub's limit is 10 minutes."""


@dataclass(frozen=True)
class Played:
    started: datetime
    """Device time of the first step: expectations count from here."""
    finished: datetime
    messages: int
    unacknowledged: int
    last_message: dict[str, datetime]
    """Device time of each device's last message: where the hub's absence clock starts counting."""


def lead_s(steps: list[Step]) -> float:
    times = [s.at_s for s in steps]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max(gaps, default=0.0) + 1.0


def check_ahead(steps: list[Step], compress: float) -> None:
    span = steps[-1].at_s - steps[0].at_s if steps else 0.0
    ahead = lead_s(steps) + span * (1 - 1 / compress)
    if ahead > MAX_AHEAD_S:
        raise ScenarioError(
            f"at --compress {compress:g} the scenario's device clock would run {ahead / 60:.1f} min ahead "
            f"of the hub's, which refuses readings more than 10 min ahead: use fewer steps or less compression"
        )


def play(
    steps: list[Step],
    models: dict[str, DeviceModel],
    sender: Sender,
    *,
    compress: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    ack_timeout_s: float = 30.0,
) -> Played:
    """Publish each step when its time comes; wait until the broker has taken every message (a device
    is only dropped once its own messages are out)."""
    if compress <= 0:
        raise ScenarioError("--compress must be positive")
    check_ahead(steps, compress)
    t0 = clock() + timedelta(seconds=lead_s(steps))
    start = monotonic()
    pending: dict[str, list[mqtt.MQTTMessageInfo]] = {}
    last_message: dict[str, datetime] = {}
    messages = unacknowledged = 0

    def flush(infos: list[mqtt.MQTTMessageInfo]) -> int:
        deadline = monotonic() + ack_timeout_s
        missing = 0
        for info in infos:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.0, deadline - monotonic()))
            missing += not info.is_published()
        infos.clear()
        return missing

    base = steps[0].at_s if steps else 0.0
    for step in steps:
        wait = start + (step.at_s - base) / compress - monotonic()
        if wait > 0:
            sleep(wait)
        at = t0 + timedelta(seconds=step.at_s - base)
        for action in step.actions:
            model = models[action.device.id]
            if isinstance(action, Drop):
                unacknowledged += flush(pending.get(action.device.id, []))
                sender.transport.drop(action.device)
                continue
            if isinstance(action, Reading):
                model.overrides = dict(action.values)
                payload = model.telemetry(at)
                for name, delta in action.offsets.items():
                    payload[name] = round(payload[name] + delta, 3)
                channel = "telemetry"
            else:
                assert isinstance(action, Event)
                payload, channel = model.event(at, **action.fields), "event"
            pending.setdefault(action.device.id, []).append(sender.send(action.device, channel, payload))
            last_message[action.device.id] = at
            messages += 1
    for infos in pending.values():
        unacknowledged += flush(infos)
    last = steps[-1].at_s - base if steps else 0.0
    return Played(t0, t0 + timedelta(seconds=last), messages, unacknowledged, last_message)
