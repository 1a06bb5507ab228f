"""Behaviour models per device kind: physics and daily rhythms, not noise.

Each model turns (device, time) into the next telemetry payload. Scenarios act through `overrides`,
for example a fire raising smoke in the detectors of one building.
"""

import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from device_simulators.site import SimDevice


def _hour(t: datetime) -> float:
    return t.hour + t.minute / 60


@dataclass
class DeviceModel:
    device: SimDevice
    rng: random.Random
    seq: int = field(default_factory=lambda: int(time.time() * 1000))
    battery_pct: float = 0.0
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.battery_pct = self.rng.uniform(60, 100)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def envelope(self, t: datetime) -> dict[str, Any]:
        return {
            "device_id": self.device.id,
            "ts": t.isoformat(),
            "seq": self.next_seq(),
            "rssi_dbm": int(-60 - self.rng.random() * 30),
        }

    def telemetry(self, t: datetime) -> dict[str, Any]:
        values = self.values(t)
        values.update(self.overrides)
        return {**self.envelope(t), **values}

    def values(self, t: datetime) -> dict[str, Any]:
        raise NotImplementedError


class SmokeDetector(DeviceModel):
    """Clean-air background near 0.1 %/m with slow drift; batteries lose a few percent a month."""

    def values(self, t: datetime) -> dict[str, Any]:
        self.battery_pct = max(0.0, self.battery_pct - 0.00001)
        smoke = 0.1 + 0.05 * math.sin(_hour(t) / 24 * 2 * math.pi) + self.rng.uniform(0, 0.03)
        temp = 21 + 3 * math.sin((_hour(t) - 9) / 24 * 2 * math.pi) + self.rng.uniform(-0.2, 0.2)
        return {
            "smoke_obscuration_pct_per_m": round(smoke, 3),
            "temperature_c": round(temp, 2),
            "battery_pct": round(self.battery_pct, 2),
            "alarm": False,
            "fault": False,
            "tamper": False,
            "test_button": False,
        }


class Lamppost(DeviceModel):
    """On from dusk (18:00) to dawn (06:00), dimmed to 50 % after midnight; power follows dim level."""

    def values(self, t: datetime) -> dict[str, Any]:
        h = _hour(t)
        on = h >= 18 or h < 6
        dim = 0.0 if not on else (50.0 if h < 6 else 100.0)
        rated_w = 120.0
        power = rated_w * dim / 100 + (self.rng.uniform(0, 2) if on else 0.3)
        voltage = 220 + self.rng.uniform(-4, 4)
        return {
            "lamp_on": on,
            "dim_level_pct": dim,
            "power_w": round(power, 1),
            "voltage_v": round(voltage, 1),
            "current_a": round(power / voltage, 3),
            "pole_tilt_deg": 0.4,
            "cabinet_door_open": False,
            "pm25_ug_m3": round(20 + self.rng.uniform(0, 15), 1),
            "noise_db": round(45 + self.rng.uniform(0, 10), 1),
            "emergency_call": False,
        }


class Manhole(DeviceModel):
    """Water level near its dry-weather base; gas readings near zero."""

    def values(self, t: datetime) -> dict[str, Any]:
        self.battery_pct = max(0.0, self.battery_pct - 0.00001)
        return {
            "tilt_deg": 0.5,
            "cover_open": False,
            "water_level_cm": round(15 + self.rng.uniform(0, 3), 1),
            "ch4_pct_lel": round(self.rng.uniform(0, 1), 2),
            "h2s_ppm": round(self.rng.uniform(0, 0.5), 2),
            "battery_pct": round(self.battery_pct, 2),
        }


class AccessGate(DeviceModel):
    """A heartbeat; access events follow the rush hours (see `access_rate_per_min`)."""

    def values(self, t: datetime) -> dict[str, Any]:
        return {"door_open": False, "uptime_s": self.seq * 60}

    def telemetry(self, t: datetime) -> dict[str, Any]:
        payload = super().telemetry(t)
        payload.pop("rssi_dbm")
        return payload

    def access_rate_per_min(self, t: datetime) -> float:
        h = _hour(t)
        rush = math.exp(-((h - 8) ** 2) / 1.0) + math.exp(-((h - 18.5) ** 2) / 2.0)
        return 0.2 + 4 * rush

    def access_event(self, t: datetime) -> dict[str, Any]:
        denied = self.rng.random() < 0.05
        return {
            **{k: v for k, v in self.envelope(t).items() if k != "rssi_dbm"},
            "event": "access",
            "result": "denied" if denied else "granted",
            "method": self.rng.choice(["card", "face", "qr", "pin"]),
            "direction": self.rng.choice(["in", "out"]),
            "person_ref": f"card-{self.rng.randrange(1, 500):04d}",
        }


MODELS: dict[str, type[DeviceModel]] = {
    "smoke_detector": SmokeDetector,
    "lamppost": Lamppost,
    "manhole": Manhole,
    "access_gate": AccessGate,
}


def build(device: SimDevice, seed: int) -> DeviceModel:
    return MODELS[device.kind](device, random.Random(f"{seed}:{device.id}"))
