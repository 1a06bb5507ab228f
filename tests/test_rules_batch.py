"""The engine runs each rule over a whole batch (with the quiet cases inline); it must give exactly the
transitions and states of the rule kinds' step functions taken reading by reading, rule by rule —
correlations, late readings, data gaps, device filters, schedules and absence ticks included."""

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.domain.alerts import Transition
from hub.domain.contract import TELEMETRY_FIELDS
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.readings import Reading
from hub.engine import kinds, loader
from hub.engine.evaluator import Engine, Evaluation
from hub.engine.schema import CorrelationRule, Rule

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

EXTRA = """
rules:
  - id: hot-named
    type: threshold
    title: Hot, two detectors only
    kinds: [smoke_detector]
    devices: [oak-sd0, elm-sd1]
    severity: major
    category: fire
    when: temperature_c >= 30 and battery_pct > 20
    for: 30s
    clear_for: 20s
    dispatch: {team: fire-safety}
  - id: tamper-event
    type: threshold
    title: Tamper event
    kinds: [smoke_detector, manhole]
    source: event
    severity: minor
    category: security
    when: event == 'tamper'
    dispatch: {team: property-security}
  - id: daytime-tilt
    type: threshold
    title: Tilt in the daytime
    kinds: [manhole]
    severity: minor
    category: infrastructure
    when: tilt_deg > 5
    active: {hours: "08:00-20:00", timezone: UTC}
    dispatch: {team: roads}
  - id: quiet-battery
    type: absence
    title: No healthy battery report
    kinds: [manhole]
    source: telemetry
    where: battery_pct > 10
    period: 10m
    severity: minor
    category: device_health
    dispatch: {team: maintenance}
  - id: water-rising
    type: rate
    title: Water rising fast
    kinds: [manhole]
    metric: water_level_cm
    change: 50
    window: 10m
    severity: major
    category: flood
    dispatch: {team: drainage}
  - id: hot-building
    type: correlation
    title: Two hot detectors in a building
    kinds: [smoke_detector]
    of: [hot-named, smoke-heat]
    group_by: building
    within: 10m
    severity: critical
    category: fire
    dispatch: {team: fire-safety}
"""

NUMBERS = (0, 0.5, 1, 2, 4.5, 5, 6, 9, 10, 12, 15, 19.5, 20, 25, 30, 45, 57, 60, 99, 100, 150, 181, 220)
EVENTS = {
    DeviceKind.SMOKE_DETECTOR: ("alarm", "alarm_cleared", "self_test", "tamper"),
    DeviceKind.LAMPPOST: ("emergency_call", "cabinet_opened"),
    DeviceKind.MANHOLE: ("cover_opened", "cover_closed", "tamper"),
    DeviceKind.ACCESS_GATE: ("access", "access", "tailgating", "door_forced_open", "tamper"),
}
BOOLS = {
    "alarm",
    "fault",
    "tamper",
    "test_button",
    "lamp_on",
    "cabinet_door_open",
    "emergency_call",
    "cover_open",
    "door_open",
}


class StepByStep(Engine):
    """The reference: each reading through each of its kind's rules' `step` in turn, as the engine
    evaluated before it ran rules over batches."""

    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        out = Evaluation()
        out.staged = {rule_id: {} for rule_id in self._states}
        steps: dict[str, list[kinds.Compiled]] = {}
        for rule in self.rules:
            if not isinstance(rule, CorrelationRule):
                compiled = kinds.compile_rule(rule, self._data_gap_s)
                for kind in rule.kinds:
                    steps.setdefault(kind, []).append(compiled)
        for r in readings:
            device_id = r.device.id
            for c in steps.get(r.device.kind, ()):
                if c.rule.devices is not None and device_id not in c.rule.devices:
                    continue
                new = out.staged[c.rule.id]
                state, transition = c.step(new.get(device_id) or self._states[c.rule.id].get(device_id), r)
                new[device_id] = state
                if transition is not None:
                    self._transition(out, (c.rule.id, device_id), transition, r.device)
        return out


def _rules() -> list[Rule]:
    rules = loader.load(ROOT / "rules")
    extra, errors = loader.load_text(EXTRA, "extra.yaml")
    assert not errors, errors
    return rules + extra


def _devices() -> list[DeviceRef]:
    return [
        DeviceRef(f"{community}-{abbr}{i}", kind, community, f"b{i % 2}", "g1")
        for community in ("oak", "elm")
        for kind, abbr in (
            (DeviceKind.SMOKE_DETECTOR, "sd"),
            (DeviceKind.LAMPPOST, "lp"),
            (DeviceKind.MANHOLE, "mh"),
            (DeviceKind.ACCESS_GATE, "gt"),
        )
        for i in range(3)
    ]


def _values(rng: random.Random, device: DeviceRef) -> tuple[dict[str, Any], str]:
    if rng.random() < 0.15:
        event = rng.choice(EVENTS[device.kind])
        values: dict[str, Any] = {"event": event, "held_s": None, "count": None}
        if event == "access":
            values = {
                "event": event,
                "result": rng.choice(("granted", "denied")),
                "method": "card",
                "direction": "in",
            }
        return values, "event"
    values = {}
    for name in sorted(TELEMETRY_FIELDS[device.kind]):
        if rng.random() < 0.08:
            continue  # an optional field left out
        values[name] = rng.random() < 0.3 if name in BOOLS else rng.choice(NUMBERS)
    return values, "telemetry"


def _readings(rng: random.Random, devices: Sequence[DeviceRef], n: int) -> list[Reading]:
    clock = {d.id: T0 + timedelta(seconds=rng.randrange(0, 600)) for d in devices}
    out = []
    for _ in range(n):
        device = rng.choice(devices)
        step = rng.choice((0, 5, 10, 15, 30, 60, 200, 400))
        clock[device.id] += timedelta(seconds=step)
        ts = (
            clock[device.id] - timedelta(seconds=rng.choice((30, 90)))
            if rng.random() < 0.08
            else clock[device.id]
        )
        values, source = _values(rng, device)
        out.append(Reading(device, ts, values, source))
    return out


def _label(t: Transition) -> str:
    return f"{type(t).__name__}:{type(t.rule).__name__}"


def test_batches_give_what_steps_reading_by_reading_give() -> None:
    rules, devices = _rules(), _devices()
    seen: set[str] = set()
    for seed in range(60):
        rng = random.Random(seed)
        batched, stepped = Engine(rules), StepByStep(rules)
        readings = _readings(rng, devices, 240)
        now = T0
        while readings:
            size = rng.choice((1, 3, 17, 60))
            batch, readings = readings[:size], readings[size:]
            if rng.random() < 0.5:
                batch.sort(key=lambda r: r.ts)
            expected, got = stepped.evaluate(batch), batched.evaluate(batch)
            assert got.transitions == expected.transitions, seed
            seen |= {_label(t) for t in expected.transitions}
            assert got.staged == expected.staged, seed
            stepped.commit(expected)
            batched.commit(got)
            if rng.random() < 0.2:
                now = max([now, *(r.ts for r in batch)]) + timedelta(minutes=rng.choice((1, 11, 30)))
                ticked, reference = batched.tick(now), stepped.tick(now)
                # a tick takes devices in the order their state was first kept, which for a rule of
                # several kinds a batch groups by kind: the same alerts, in another order
                assert sorted(map(repr, ticked.transitions)) == sorted(map(repr, reference.transitions)), seed
                seen |= {_label(t) for t in reference.transitions}
                batched.commit(ticked)
                stepped.commit(reference)
        assert batched._states == stepped._states, seed
    # readings near the thresholds open and clear alerts of every kind: two engines that never
    # alerted would prove nothing by agreeing
    for kind in ("Threshold", "Absence", "Rate", "Count", "Correlation"):
        assert f"AlertOpened:{kind}Rule" in seen, seen
    for kind in ("Threshold", "Absence", "Count", "Correlation"):
        assert f"AlertCleared:{kind}Rule" in seen, seen
