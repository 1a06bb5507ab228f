"""The default rule pack stays quiet on a normal day and speaks when something is wrong."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device_simulators.models import build
from device_simulators.site import SimDevice
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.readings import Reading
from hub.engine import loader
from hub.engine.evaluator import Engine

RULES = loader.load(Path(__file__).resolve().parents[1] / "rules")
DAY = datetime(2026, 11, 28, tzinfo=UTC)


def sim(kind: str) -> tuple[SimDevice, DeviceRef]:
    d = SimDevice(f"x-{kind}", kind, "oak", "g1", "b1", 0, 0)
    return d, DeviceRef(d.id, DeviceKind(kind), "oak", "b1", "g1")


@pytest.mark.parametrize("kind", [k.value for k in DeviceKind])
def test_does_not_fire_on_a_normal_simulated_day(kind: str) -> None:
    device, ref = sim(kind)
    model = build(device, seed=3)
    engine = Engine(RULES)
    opened = []
    for minute in range(0, 24 * 60, 2):
        t = DAY + timedelta(minutes=minute)
        ev = engine.evaluate([Reading(ref, t, model.telemetry(t))])
        engine.commit(ev)
        opened += [x.rule.id for x in ev.transitions if isinstance(x, AlertOpened)]
    assert opened == []


INCIDENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("smoke_detector", "smoke-alarm", {"alarm": True, "smoke_obscuration_pct_per_m": 4.0}),
    ("smoke_detector", "smoke-heat", {"temperature_c": 70.0}),
    ("lamppost", "lamp-emergency-call", {"emergency_call": True}),
    ("lamppost", "lamp-pole-tilt", {"pole_tilt_deg": 9.0}),
    ("manhole", "manhole-cover-displaced", {"cover_open": True}),
    ("manhole", "manhole-gas-ch4", {"ch4_pct_lel": 25.0}),
    ("manhole", "manhole-water-high", {"water_level_cm": 180.0}),
    ("access_gate", "gate-door-open-long", {"door_open": True}),
]


@pytest.mark.parametrize(("kind", "rule_id", "override"), INCIDENTS, ids=[i[1] for i in INCIDENTS])
def test_fires_on_its_incident(kind: str, rule_id: str, override: dict[str, Any]) -> None:
    device, ref = sim(kind)
    model = build(device, seed=3)
    model.overrides = override
    engine = Engine(RULES)
    opened = []
    for second in range(0, 600, 10):
        t = DAY + timedelta(hours=12, seconds=second)
        ev = engine.evaluate([Reading(ref, t, model.telemetry(t))])
        engine.commit(ev)
        opened += [x.rule.id for x in ev.transitions if isinstance(x, AlertOpened)]
    assert rule_id in opened
    assert opened.count(rule_id) == 1
