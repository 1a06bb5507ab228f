"""Normal-day readings for the benchmark fleet, checked against the hub's own contract models.

The benchmark keeps its own small generator instead of using device_simulators.models: the
simulator's behaviour models change with the demo's needs, and a benchmark whose input shifts with
them would not compare across commits. Values are plausible and quiet for the default rule pack (no
alarms, batteries above 60 %, lamps drawing power that matches their dim level), so rule evaluation
costs what it costs on an ordinary day, without a storm of alerts.

Every variant is validated with hub.domain.contract before a message is sent: if the contract
changes, the benchmark stops with the validation error instead of measuring the dead-letter path.
"""

import json
import random
from datetime import UTC, datetime
from typing import Any

from bench.fleet import Device
from hub.domain.contract import (
    EVENT_ADAPTER,
    DevicePayload,
    GateTelemetry,
    LamppostTelemetry,
    ManholeTelemetry,
    SmokeTelemetry,
)

_TELEMETRY: dict[str, type[DevicePayload]] = {
    "smoke_detector": SmokeTelemetry,
    "lamppost": LamppostTelemetry,
    "manhole": ManholeTelemetry,
    "access_gate": GateTelemetry,
}


def _smoke(rng: random.Random, battery: float) -> dict[str, Any]:
    return {
        "smoke_obscuration_pct_per_m": round(rng.uniform(0.05, 0.2), 3),
        "temperature_c": round(rng.uniform(19.0, 25.0), 2),
        "battery_pct": round(battery, 2),
        "alarm": False,
        "fault": False,
        "tamper": False,
        "test_button": False,
    }


def _lamppost(rng: random.Random, hour: int) -> dict[str, Any]:
    """On from dusk to dawn, dimmed after midnight; power follows the dim level."""
    on = hour >= 18 or hour < 6
    dim = 0.0 if not on else (50.0 if hour < 6 else 100.0)
    power = 120.0 * dim / 100 + (rng.uniform(0, 2) if on else 0.3)
    voltage = rng.uniform(216.0, 224.0)
    return {
        "lamp_on": on,
        "dim_level_pct": dim,
        "power_w": round(power, 1),
        "voltage_v": round(voltage, 1),
        "current_a": round(power / voltage, 3),
        "pole_tilt_deg": round(rng.uniform(0.2, 0.8), 2),
        "cabinet_door_open": False,
        "pm25_ug_m3": round(rng.uniform(20, 35), 1),
        "noise_db": round(rng.uniform(45, 55), 1),
        "emergency_call": False,
    }


def _manhole(rng: random.Random, battery: float) -> dict[str, Any]:
    return {
        "tilt_deg": round(rng.uniform(0.3, 1.0), 2),
        "cover_open": False,
        "water_level_cm": round(rng.uniform(15, 18), 1),
        "ch4_pct_lel": round(rng.uniform(0, 1), 2),
        "h2s_ppm": round(rng.uniform(0, 0.5), 2),
        "battery_pct": round(battery, 2),
    }


def _access(rng: random.Random) -> dict[str, Any]:
    """Always granted: a device cycles through a few fixed variants, so one denied variant would recur
    every few seconds, and `gate-denied-burst` would rightly report a break-in attempt at every gate."""
    method = rng.choice(["card", "card", "face", "face", "qr", "pin"])
    return {
        "event": "access",
        "result": "granted",
        "method": method,
        "direction": rng.choice(["in", "out"]),
        "person_ref": f"{method}-{rng.randrange(1, 500):04d}",
    }


def variants(device: Device, count: int, *, seed: int, event_every: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` (channel, values) pairs without the envelope; for gates every `event_every`-th one is an
    access event, the rest heartbeats."""
    rng = random.Random(f"{seed}:{device.id}")
    battery = rng.uniform(60, 100)
    hour = datetime.now(UTC).hour
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        rssi = {"rssi_dbm": rng.randint(-90, -60)}
        if device.kind == "smoke_detector":
            out.append(("telemetry", rssi | _smoke(rng, battery)))
        elif device.kind == "lamppost":
            out.append(("telemetry", rssi | _lamppost(rng, hour)))
        elif device.kind == "manhole":
            out.append(("telemetry", rssi | _manhole(rng, battery)))
        elif i % event_every == event_every - 1:
            out.append(("event", _access(rng)))
        else:
            out.append(("telemetry", {"door_open": False, "uptime_s": rng.randrange(3600, 90 * 86400)}))
    return out


def check(device: Device, channel: str, fragment: str) -> None:
    """Validate one rendered variant exactly as the hub will see it; raises on any contract mismatch."""
    body = f'{{"device_id":"{device.id}","ts":"{datetime.now(UTC).isoformat()}","seq":1{fragment}}}'
    if channel == "event":
        EVENT_ADAPTER.validate_json(body)
    else:
        _TELEMETRY[device.kind].model_validate_json(body)


def fragment(values: dict[str, Any]) -> str:
    """The values as the tail of a JSON object, starting with a comma, to follow the envelope."""
    return "," + json.dumps(values, separators=(",", ":"))[1:-1]
