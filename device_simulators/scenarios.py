"""Scenarios: scripted incidents, each with the alerts it must raise and the ones it must not.

A scenario is a timeline in device time (seconds after its first reading) played through real device
connections. The expectations make every scenario a regression test of the rule pack: `hub-sim verify`
plays it against a running hub and checks the alerts through the cases API.
"""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from device_simulators.environment import Shower, reservoir_cm
from device_simulators.site import SimDevice

BUILDING_KINDS = frozenset({"smoke_detector", "access_gate"})
"""Kinds installed in buildings; the others stand along a grid's streets."""


class ScenarioError(ValueError):
    """The scenario cannot be played as asked (no such devices, a device of the wrong kind, ...)."""


@dataclass(frozen=True)
class Reading:
    """A telemetry message: the device's normal values, with `values` replacing some and `offsets`
    added to others (a flood adds water to whatever the drain held before)."""

    device: SimDevice
    values: dict[str, Any] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    device: SimDevice
    fields: dict[str, Any]


@dataclass(frozen=True)
class Drop:
    """The device vanishes without DISCONNECT, so the broker publishes its Last Will."""

    device: SimDevice


Action = Reading | Event | Drop


@dataclass(frozen=True)
class Step:
    at_s: float
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Cast:
    """The devices a scenario plays with; `targets[0]` is where it starts (the fire's first detector),
    the others follow in order of distance from it."""

    community: str
    grid: str
    building: str | None
    targets: tuple[SimDevice, ...]


@dataclass(frozen=True)
class Plan:
    cast: Cast
    steps: int
    interval_s: float
    rng: random.Random

    def times(self) -> list[float]:
        return [k * self.interval_s for k in range(self.steps)]


Subject = Literal["each", "first", "building", "grid"]


@dataclass(frozen=True)
class Expect:
    """An alert the scenario must raise: rule, on which subject, how severe, and at the latest how many
    seconds of device time after the scenario's first reading (durations run on device time, so this
    holds at any --compress)."""

    rule_id: str
    severity: Literal["info", "minor", "major", "critical"]
    within_s: float | None
    """None for an absence rule: it runs on the hub's clock, which `--compress` cannot speed up, and its
    period belongs to the hub's rule pack, not to the scenario; so the alert must open on the hub's clock
    no sooner than the rule's period (as the hub reports it) and within the verifier's margin after
    that, counted from the device's last message."""
    subject: Subject = "each"
    kind: str | None = None
    """Only for targets of this kind (a scenario that can play on detectors or manholes)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    kinds: tuple[str, ...]
    """Device kinds it can play on; the first is the default."""
    count: int | None
    """How many devices it takes by default; None: every device of the kind in the building or grid."""
    steps: int
    interval_s: float
    script: Callable[[Plan], list[Step]]
    expect: tuple[Expect, ...] = ()
    forbid: tuple[str, ...] = ()
    """Rules that must not raise an alert on the targets while it plays."""


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _ramp(t: float, start: float, length: float) -> float:
    return _clamp((t - start) / length)


def fire(plan: Plan) -> list[Step]:
    """Smoke rises at the first detector and spreads to its neighbours, the last starting when half the
    time has passed; temperature follows the smoke; each detector alarms (and sends an `alarm` event)
    once its smoke passes 3 %/m. Shaped by progress, not seconds, so a short run still ends in alarm."""
    targets = plan.cast.targets
    alarmed: set[str] = set()
    out = []
    for k, at in enumerate(plan.times()):
        progress = (k + 1) / plan.steps
        actions: list[Action] = []
        for i, d in enumerate(targets):
            onset = 0.5 * i / max(len(targets) - 1, 1)
            f = _clamp((progress - onset) / (1 - onset))
            smoke = 0.1 + 8 * f**1.5 + plan.rng.uniform(0, 0.05)
            alarm = smoke >= 3.0
            actions.append(
                Reading(
                    d,
                    {
                        "smoke_obscuration_pct_per_m": round(smoke, 2),
                        "temperature_c": round(22 + 50 * f**2.5 + plan.rng.uniform(-0.2, 0.2), 1),
                        "alarm": alarm,
                    },
                )
            )
            if alarm and d.id not in alarmed:
                alarmed.add(d.id)
                actions.append(Event(d, {"event": "alarm"}))
        out.append(Step(at, tuple(actions)))
    return out


CLOUDBURST_MM_H = 120.0
RUNOFF_CM_PER_MM = 30.0
"""A street's runoff funnels into its drains: each mm of a cloudburst adds about 30 cm in a manhole."""


def flood(plan: Plan) -> list[Step]:
    """A cloudburst over the grid for the first two thirds of the scenario: each manhole fills after its
    own lag (the nearest first) and drains slowly, staying high after the rain stops."""
    targets = plan.cast.targets
    duration = plan.times()[-1]
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    burst = [Shower(epoch, duration * 2 / 3, CLOUDBURST_MM_H)]
    out = []
    for at in plan.times():
        actions: list[Action] = []
        for i, d in enumerate(targets):
            lag = 15 + 75 * i / max(len(targets) - 1, 1)
            rise = reservoir_cm(
                burst, epoch + timedelta(seconds=at), lag_s=lag, tau_s=1800, cm_per_mm=RUNOFF_CM_PER_MM
            )
            actions.append(Reading(d, offsets={"water_level_cm": round(rise, 1)}))
        out.append(Step(at, tuple(actions)))
    return out


def gas_leak(plan: Plan) -> list[Step]:
    """Sewer gas builds up: methane to 35 % LEL within a minute, hydrogen sulphide to 25 ppm more slowly."""
    out = []
    for at in plan.times():
        ch4 = 0.5 + 34.5 * _ramp(at, 30, 60)
        h2s = 0.3 + 24.7 * _ramp(at, 30, 90)
        actions = tuple(
            Reading(d, {"ch4_pct_lel": round(ch4, 2), "h2s_ppm": round(h2s, 2)}) for d in plan.cast.targets
        )
        out.append(Step(at, actions))
    return out


def cover_displaced(plan: Plan) -> list[Step]:
    """A cover knocked off its seat: the switch opens and the tilt sensor reads 25°."""
    out = []
    for k, at in enumerate(plan.times()):
        actions: list[Action] = []
        for d in plan.cast.targets:
            if k == 0:
                actions.append(Event(d, {"event": "cover_opened"}))
            actions.append(
                Reading(d, {"cover_open": True, "tilt_deg": round(25 + plan.rng.uniform(-1, 1), 1)})
            )
        out.append(Step(at, tuple(actions)))
    return out


def lamp_knocked(plan: Plan) -> list[Step]:
    """A vehicle hits the pole after the first reading: it leans 14° and the lamp keeps working."""
    return [
        Step(
            at,
            tuple(
                Reading(d, {"pole_tilt_deg": round(14 + plan.rng.uniform(-0.3, 0.3), 2)} if k else {})
                for d in plan.cast.targets
            ),
        )
        for k, at in enumerate(plan.times())
    ]


def _lamp_on(power_w: float, voltage_v: float) -> dict[str, Any]:
    """A lamp its controller has switched on at full level (as at night), drawing `power_w`."""
    current = power_w / voltage_v if voltage_v else 0.0
    return {
        "lamp_on": True,
        "dim_level_pct": 100.0,
        "power_w": round(power_w, 1),
        "voltage_v": round(voltage_v, 1),
        "current_a": round(current, 3),
    }


def lamp_failed(plan: Plan) -> list[Step]:
    """The LED driver fails: the lamp is switched on but draws well under a watt."""
    return [
        Step(
            at, tuple(Reading(d, _lamp_on(0.6 + plan.rng.uniform(0, 0.3), 220.0)) for d in plan.cast.targets)
        )
        for at in plan.times()
    ]


def power_cut(plan: Plan) -> list[Step]:
    """The street's supply fails at night: every lamppost of the grid reports 0 V and no power on its
    backup battery, which gives out at the end, so the lampposts drop off without a goodbye."""
    out = [Step(at, tuple(Reading(d, _lamp_on(0.0, 0.0)) for d in plan.cast.targets)) for at in plan.times()]
    out.append(Step(plan.times()[-1] + plan.interval_s, tuple(Drop(d) for d in plan.cast.targets)))
    return out


def brute_force(plan: Plan) -> list[Step]:
    """Someone tries PIN after PIN at the gate: every attempt denied."""
    return [
        Step(
            at,
            tuple(
                Event(d, {"event": "access", "result": "denied", "method": "pin", "direction": "in"})
                for d in plan.cast.targets
            ),
        )
        for at in plan.times()
    ]


def tailgating(plan: Plan) -> list[Step]:
    """One resident badges in and two people follow through the open door."""
    iv = plan.interval_s
    out = []
    for d in plan.cast.targets:
        granted = {"event": "access", "result": "granted", "method": "card", "direction": "in"}
        out += [
            Step(0, (Event(d, {**granted, "person_ref": f"card-{plan.rng.randrange(300):04d}"}),)),
            Step(iv, (Reading(d, {"door_open": True}),)),
            Step(2 * iv, (Event(d, {"event": "tailgating", "count": 2}),)),
            Step(3 * iv, (Event(d, {"event": "door_closed", "held_s": 3 * iv}),)),
            Step(4 * iv, (Reading(d, {"door_open": False}),)),
        ]
    return sorted(out, key=lambda s: s.at_s)


def gate_held_open(plan: Plan) -> list[Step]:
    """A door wedged open after a granted entry: heartbeats report it open, the gate reports it held
    open at 30 s and every minute after, and it closes at the end."""
    times = plan.times()
    out = []
    for k, at in enumerate(times):
        actions: list[Action] = []
        for d in plan.cast.targets:
            if k == 0:
                granted = {"event": "access", "result": "granted", "method": "face", "direction": "in"}
                actions.append(Event(d, {**granted, "person_ref": f"face-{plan.rng.randrange(300):04d}"}))
            last = k == len(times) - 1
            actions.append(Reading(d, {"door_open": not last}))
            if last:
                actions.append(Event(d, {"event": "door_closed", "held_s": at}))
            elif at >= 30 and (at - 30) % 60 < plan.interval_s:
                actions.append(Event(d, {"event": "door_held_open", "held_s": at}))
        out.append(Step(at, tuple(actions)))
    return out


def offline(plan: Plan) -> list[Step]:
    """Devices lose power: a last normal reading, then they vanish and the broker announces them offline."""
    targets = plan.cast.targets
    return [
        Step(0, tuple(Reading(d) for d in targets)),
        Step(plan.interval_s, tuple(Drop(d) for d in targets)),
    ]


def low_battery(plan: Plan) -> list[Step]:
    """A cell near its end: the battery reading falls from 24 % to 14 % while the device goes on working."""
    last = max(plan.steps - 1, 1)
    return [
        Step(at, tuple(Reading(d, {"battery_pct": round(24 - 10 * k / last, 1)}) for d in plan.cast.targets))
        for k, at in enumerate(plan.times())
    ]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "fire",
            "a fire in a building: smoke and heat spread from one detector to its neighbours over minutes",
            kinds=("smoke_detector",),
            count=None,
            steps=25,
            interval_s=10,
            script=fire,
            expect=(
                Expect("smoke-alarm", "critical", 240),
                Expect("smoke-heat", "critical", 240, subject="first"),
                Expect("fire-in-building", "critical", 240, subject="building"),
            ),
            forbid=("smoke-fault", "smoke-battery-low"),
        ),
        Scenario(
            "flood",
            "a cloudburst: water rises in the grid's manholes one after another and stays high",
            kinds=("manhole",),
            count=None,
            steps=37,
            interval_s=10,
            script=flood,
            expect=(
                Expect("manhole-water-high", "major", 330),
                Expect("flood-in-grid", "major", 330, subject="grid"),
            ),
            forbid=("manhole-cover-displaced", "manhole-gas-ch4", "manhole-gas-h2s"),
        ),
        Scenario(
            "gas-leak",
            "methane and hydrogen sulphide build up in a manhole",
            kinds=("manhole",),
            count=1,
            steps=19,
            interval_s=10,
            script=gas_leak,
            expect=(Expect("manhole-gas-ch4", "critical", 120), Expect("manhole-gas-h2s", "major", 150)),
            forbid=("manhole-cover-displaced", "manhole-water-high"),
        ),
        Scenario(
            "cover-displaced",
            "a manhole cover knocked open (cover switch open, tilt 25°)",
            kinds=("manhole",),
            count=1,
            steps=7,
            interval_s=5,
            script=cover_displaced,
            expect=(Expect("manhole-cover-displaced", "critical", 30),),
            forbid=("manhole-gas-ch4", "manhole-gas-h2s", "manhole-water-high"),
        ),
        Scenario(
            "lamp-knocked",
            "a vehicle hits a lamppost: the pole leans 14°, the lamp still works",
            kinds=("lamppost",),
            count=1,
            steps=13,
            interval_s=10,
            script=lamp_knocked,
            expect=(Expect("lamp-pole-tilt", "major", 60),),
            forbid=("lamp-power-mismatch", "lamp-emergency-call"),
        ),
        Scenario(
            "lamp-failed",
            "a lamp switched on draws almost no power (failed LED driver)",
            kinds=("lamppost",),
            count=1,
            steps=43,
            interval_s=10,
            script=lamp_failed,
            expect=(Expect("lamp-power-mismatch", "minor", 330),),
            forbid=("lamp-pole-tilt",),
        ),
        Scenario(
            "power-cut",
            "the street's supply fails at night: the grid's lampposts report 0 V, then drop off",
            kinds=("lamppost",),
            count=None,
            steps=13,
            interval_s=10,
            script=power_cut,
            expect=(
                Expect("lamp-no-voltage", "minor", 60),
                Expect("street-power-cut", "major", 120, subject="grid"),
                Expect("device-offline", "minor", None),
            ),
            forbid=("lamp-pole-tilt",),
        ),
        Scenario(
            "brute-force",
            "PIN after PIN denied at a gate",
            kinds=("access_gate",),
            count=1,
            steps=16,
            interval_s=5,
            script=brute_force,
            expect=(Expect("gate-denied-burst", "major", 60),),
            forbid=("gate-door-open-long",),
        ),
        Scenario(
            "tailgating",
            "two people follow a resident through a gate",
            kinds=("access_gate",),
            count=1,
            steps=5,
            interval_s=2,
            script=tailgating,
            expect=(Expect("gate-tailgating", "major", 30),),
            forbid=("gate-door-open-long",),
        ),
        Scenario(
            "gate-held-open",
            "a gate's door wedged open for over three minutes",
            kinds=("access_gate",),
            count=1,
            steps=14,
            interval_s=15,
            script=gate_held_open,
            expect=(Expect("gate-door-open-long", "major", 150),),
        ),
        Scenario(
            "offline",
            "devices lose power and drop off without DISCONNECT, so their Last Will fires",
            kinds=("manhole", "lamppost", "smoke_detector", "access_gate"),
            count=2,
            steps=2,
            interval_s=5,
            script=offline,
            expect=(Expect("device-offline", "minor", None),),
        ),
        Scenario(
            "low-battery",
            "a battery near its end: 24 % falling to 14 %",
            kinds=("smoke_detector", "manhole"),
            count=1,
            steps=11,
            interval_s=10,
            script=low_battery,
            expect=(
                Expect("smoke-battery-low", "minor", 100, kind="smoke_detector"),
                Expect("manhole-battery-low", "minor", 100, kind="manhole"),
            ),
            forbid=("smoke-fault",),
        ),
    )
}


def plan(scenario: Scenario, cast_: Cast, *, seed: int, steps: int | None, interval_s: float | None) -> Plan:
    return Plan(
        cast_,
        steps if steps is not None else scenario.steps,
        interval_s if interval_s is not None else scenario.interval_s,
        random.Random(f"{seed}:{scenario.name}"),
    )


def cast(
    scenario: Scenario,
    devices: list[SimDevice],
    *,
    community: str,
    building: str | None = None,
    grid: str | None = None,
    device_ids: tuple[str, ...] = (),
    kind: str | None = None,
    count: int | None = None,
) -> Cast:
    """Pick the devices: the ones named, else those of the building (detectors, gates) or grid (lamps,
    manholes), by default the community's first that has the kind. A scenario that takes every device
    of its place (fire, flood, power cut) starts at the named device and spreads to the rest of its
    building or grid."""
    by_id = {d.id: d for d in devices}
    unknown = [i for i in device_ids if i not in by_id]
    if unknown:
        raise ScenarioError(f"no device {unknown[0]!r} in the site file")
    named = [by_id[i] for i in device_ids]
    if kind is not None and kind not in scenario.kinds:
        raise ScenarioError(f"{scenario.name} plays on {', '.join(scenario.kinds)}, not {kind}")
    kinds = (kind,) if kind else scenario.kinds
    wrong = [d.id for d in named if d.kind not in kinds or d.community != community]
    if wrong:
        raise ScenarioError(f"{', '.join(wrong)}: not a {' or '.join(kinds)} of community {community}")
    kind = named[0].kind if named else kinds[0]
    pool = [d for d in devices if d.community == community and d.kind == kind]
    in_buildings = kind in BUILDING_KINDS

    def place_of(d: SimDevice) -> str | None:
        return d.building if in_buildings else d.grid

    if named:
        place = place_of(named[0])
    else:
        if in_buildings:
            candidates = [d for d in pool if building in (None, d.building) and grid in (None, d.grid)]
        else:
            street = grid or next(
                (d.grid for d in devices if d.community == community and d.building == building), None
            )
            candidates = [d for d in pool if (building is None and grid is None) or d.grid == street]
        if not candidates:
            where = (
                f"building {building}" if building else f"grid {grid}" if grid else f"community {community}"
            )
            raise ScenarioError(f"no {kind} in {where}")
        place = place_of(candidates[0])
    n = count or scenario.count
    if named and n is not None:
        chosen = named
    else:
        local = [d for d in pool if place_of(d) == place]
        first = named[0] if named else local[0]
        rest = sorted(
            (d for d in local if d.id != first.id),
            key=lambda d: math.hypot(d.plan_x - first.plan_x, d.plan_y - first.plan_y),
        )
        chosen = [first, *rest][:n]
    return Cast(community, chosen[0].grid, chosen[0].building, tuple(chosen))
