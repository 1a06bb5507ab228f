"""Behaviour models per device kind: physics and daily rhythms, not noise.

A model turns (device, time) into the next telemetry payload and the events that happened in a span of
time. Values are pure functions of (seed, device, place, time), so the same seed and clock give the same
payloads however often they are asked for. Scenarios act through `overrides`, for example a fire raising
smoke in the detectors of one building.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from device_simulators.environment import Place, RainProcess, between, reservoir_cm, unit
from device_simulators.site import SimDevice

DAY_S = 86_400.0

Event = tuple[datetime, dict[str, Any]]


def _bump(h: float, centre: float, width_h: float) -> float:
    """A smooth daily peak around `centre` o'clock."""
    d = (h - centre + 12) % 24 - 12
    return math.exp(-((d / width_h) ** 2))


@dataclass
class DeviceModel:
    device: SimDevice
    seed: int
    place: Place = field(default_factory=Place)
    overrides: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    RADIO: ClassVar[bool] = True
    """Battery and radio devices report their signal strength; wired ones do not."""

    def trait(self, name: str, lo: float, hi: float) -> float:
        """A fixed property of this device (its lamp's wattage, its drain's lag)."""
        return between(lo, hi, self.seed, self.device.id, name)

    def noise(self, name: str, t: datetime, lo: float, hi: float) -> float:
        """Sensor noise, one draw per second of device time."""
        return between(lo, hi, self.seed, self.device.id, name, int(t.timestamp()))

    def wave(self, name: str, t: datetime, period_h: float) -> float:
        """A slow seeded oscillation in [-1, 1]: drift that is neither daily nor random."""
        phase = self.trait(f"{name}-phase", 0, 2 * math.pi)
        return math.sin(2 * math.pi * t.timestamp() / (period_h * 3600) + phase)

    def next_seq(self, t: datetime) -> int:
        """Milliseconds of device time, bumped when two messages share one: increasing across restarts
        of the simulator without any stored state."""
        self.seq = max(self.seq + 1, int(t.timestamp() * 1000))
        return self.seq

    def envelope(self, t: datetime) -> dict[str, Any]:
        return {"device_id": self.device.id, "ts": t.isoformat(), "seq": self.next_seq(t)}

    def telemetry(self, t: datetime) -> dict[str, Any]:
        payload = {**self.envelope(t), **self.values(t), **self.overrides}
        if self.RADIO:
            payload["rssi_dbm"] = round(self.trait("rssi", -95, -60) + self.noise("rssi", t, -3, 3))
        return payload

    def event(self, t: datetime, **fields: Any) -> dict[str, Any]:
        return {**self.envelope(t), **fields}

    def values(self, t: datetime) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, since: datetime, until: datetime, *, speed: float = 1.0) -> list[Event]:
        """Events in (since, until]; `speed` multiplies how often rate-driven events happen."""
        return []

    def battery_pct(self, t: datetime, life_days: tuple[float, float]) -> float:
        """Drains linearly over the battery's life and is replaced at 25 %, before any warning: low
        batteries are the `low-battery` scenario's job."""
        life_s = self.trait("battery-life", *life_days) * DAY_S
        phase = (t.timestamp() / life_s + self.trait("battery-phase", 0, 1)) % 1
        return 100 - 75 * phase


class SmokeDetector(DeviceModel):
    """Clean air (well below 0.5 %/m) with slow drift and a little cooking smoke at meal times; room
    temperature with a daily swing; a battery losing a few percent a month; and, about once in two
    years, dust in the chamber that raises the fault flag for a while."""

    DUST_CHANCE_PER_DAY: ClassVar[float] = 0.0015

    def dust_fault(self, t: datetime) -> bool:
        day = int(t.timestamp() // DAY_S)
        for d in (day - 1, day):
            if unit(self.seed, self.device.id, "dust", d) < self.DUST_CHANCE_PER_DAY:
                start = d * DAY_S + between(0, DAY_S, self.seed, self.device.id, "dust-at", d)
                length = between(20 * 60, 4 * 3600, self.seed, self.device.id, "dust-len", d)
                if start <= t.timestamp() < start + length:
                    return True
        return False

    def values(self, t: datetime) -> dict[str, Any]:
        h = self.place.local_hour(t)
        drift = (self.wave("smoke-a", t, 6.7) + self.wave("smoke-b", t, 29)) / 4 + 0.5
        cooking = self.trait("kitchen", 0, 1) * min(1.0, sum(_bump(h, c, 0.6) for c in (7.5, 12.0, 19.0)))
        smoke = self.trait("smoke-base", 0.05, 0.12) + 0.04 * drift + 0.12 * cooking
        smoke += self.noise("smoke", t, 0, 0.02)
        temp = 21 + self.trait("temp-offset", -1.5, 1.5) + 1.8 * math.sin((h - 9) / 24 * 2 * math.pi)
        temp += self.noise("temp", t, -0.15, 0.15)
        return {
            "smoke_obscuration_pct_per_m": round(smoke, 3),
            "temperature_c": round(temp, 2),
            "battery_pct": round(self.battery_pct(t, (900, 1400)), 2),
            "alarm": False,
            "fault": self.dust_fault(t),
            "tamper": False,
            "test_button": False,
        }


class Lamppost(DeviceModel):
    """On from dusk to dawn (sun position for the site's latitude, else 18:00 to 06:00), full power
    until 23:00 and dimmed to half until 05:00; the LED draws power in proportion to its dim level."""

    DIM_FROM_H: ClassVar[float] = 23.0
    DIM_UNTIL_H: ClassVar[float] = 5.0
    NIGHT_DIM_PCT: ClassVar[float] = 50.0
    STANDBY_W: ClassVar[float] = 0.3

    def rated_w(self) -> float:
        return 10.0 * round(self.trait("rated", 6, 15))

    def dim_level_pct(self, t: datetime) -> float:
        if not self.place.is_dark(t):
            return 0.0
        h = self.place.local_hour(t)
        return self.NIGHT_DIM_PCT if h >= self.DIM_FROM_H or h < self.DIM_UNTIL_H else 100.0

    def values(self, t: datetime) -> dict[str, Any]:
        h = self.place.local_hour(t)
        dim = self.dim_level_pct(t)
        on = dim > 0
        if on:
            power = self.rated_w() * dim / 100 * (1 + self.noise("power", t, -0.01, 0.01))
        else:
            power = self.STANDBY_W + self.noise("power", t, 0, 0.1)
        evening_load = 4 * _bump(h, 19.5, 1.5)
        voltage = 221 + 2 * self.wave("voltage", t, 5.3) - evening_load + self.noise("voltage", t, -1, 1)
        traffic = _bump(h, 8, 1.2) + _bump(h, 18, 1.5)
        haze = between(0.6, 2.0, self.seed, self.device.community, "haze", int(t.timestamp() // DAY_S))
        pm25 = self.trait("pm25", 12, 30) * haze + 10 * traffic + self.noise("pm25", t, -2, 2)
        noise_db = 40 + 7 * (1 - math.cos(2 * math.pi * (h - 3) / 24)) + 5 * traffic
        return {
            "lamp_on": on,
            "dim_level_pct": dim,
            "power_w": round(power, 1),
            "voltage_v": round(voltage, 1),
            "current_a": round(power / voltage, 3),
            "pole_tilt_deg": round(self.trait("tilt", 0.2, 1.2) + self.noise("tilt", t, 0, 0.05), 2),
            "cabinet_door_open": False,
            "pm25_ug_m3": round(max(0.0, pm25), 1),
            "noise_db": round(noise_db + self.noise("noise", t, -2, 2), 1),
            "emergency_call": False,
        }


class Manhole(DeviceModel):
    """Water near its dry-weather level that follows the community's rain: each shower raises it after
    the drain's lag and it falls back over hours. Gas near zero; battery lasting years."""

    def rain(self) -> RainProcess:
        return RainProcess(self.seed, self.device.community)

    def water_level_cm(self, t: datetime) -> float:
        showers = self.rain().showers(datetime.fromtimestamp(t.timestamp() - DAY_S, UTC), t)
        rise = reservoir_cm(
            showers,
            t,
            lag_s=self.trait("lag", 15 * 60, 60 * 60),
            tau_s=self.trait("tau", 1.5 * 3600, 3 * 3600),
            cm_per_mm=self.trait("gain", 1.6, 2.4),
        )
        return self.trait("dry-level", 8, 25) + rise + self.noise("water", t, -0.5, 0.5)

    def values(self, t: datetime) -> dict[str, Any]:
        ch4 = self.trait("ch4", 0.1, 0.8) + 0.2 * (1 + self.wave("ch4", t, 11)) + self.noise("ch4", t, 0, 0.2)
        h2s = (
            self.trait("h2s", 0.05, 0.4) + 0.1 * (1 + self.wave("h2s", t, 17)) + self.noise("h2s", t, 0, 0.1)
        )
        return {
            "tilt_deg": round(self.trait("tilt", 0.3, 1.5) + self.noise("tilt", t, 0, 0.1), 2),
            "cover_open": False,
            "water_level_cm": round(self.water_level_cm(t), 1),
            "ch4_pct_lel": round(ch4, 2),
            "h2s_ppm": round(h2s, 2),
            "battery_pct": round(self.battery_pct(t, (1200, 2000)), 2),
        }


@dataclass(frozen=True)
class HeldOpen:
    start: float
    length_s: float


class AccessGate(DeviceModel):
    """A wired gate: a heartbeat with the door state, access events that follow the rush hours of a
    residential community (out in the morning, home in the evening), a few denied, and now and then a
    door held open by a delivery; rarely long enough to need the guards."""

    RADIO: ClassVar[bool] = False
    HELD_OPEN_REPORT_S: ClassVar[float] = 30.0
    """The gate reports `door_held_open` once its door has stood open this long."""
    HELD_OPEN_CHANCE_PER_H: ClassVar[float] = 0.03
    LONG_HELD_OPEN_SHARE: ClassVar[float] = 0.05
    DENIED_SHARE: ClassVar[float] = 0.04
    RESIDENTS: ClassVar[int] = 300

    def access_rate_per_min(self, t: datetime) -> float:
        h = self.place.local_hour(t)
        if self.place.local(t).weekday() >= 5:
            return 0.3 + 1.5 * _bump(h, 10.5, 2.0) + 2.0 * _bump(h, 18.0, 2.5)
        return 0.2 + 4 * _bump(h, 8.0, 1.0) + 4 * _bump(h, 18.5, 1.4)

    def held_open(self, since: float, until: float) -> list[HeldOpen]:
        """Episodes overlapping [since, until] (POSIX seconds), during the day only."""
        out = []
        for hour in range(int(since // 3600) - 1, int(until // 3600) + 1):
            local_h = self.place.local_hour(datetime.fromtimestamp(hour * 3600, UTC))
            if not 7 <= local_h < 22:
                continue
            if unit(self.seed, self.device.id, "held", hour) >= self.HELD_OPEN_CHANCE_PER_H:
                continue
            start = hour * 3600 + between(0, 3600, self.seed, self.device.id, "held-at", hour)
            if unit(self.seed, self.device.id, "held-long", hour) < self.LONG_HELD_OPEN_SHARE:
                length = between(180, 480, self.seed, self.device.id, "held-len", hour)
            else:
                length = between(35, 100, self.seed, self.device.id, "held-len", hour)
            if start <= until and start + length >= since:
                out.append(HeldOpen(start, length))
        return out

    def values(self, t: datetime) -> dict[str, Any]:
        ts = t.timestamp()
        door_open = any(e.start <= ts < e.start + e.length_s for e in self.held_open(ts, ts))
        reboot_phase = self.trait("reboot", 0, 7 * DAY_S)
        return {"door_open": door_open, "uptime_s": int((ts + reboot_phase) % (7 * DAY_S))}

    def events(self, since: datetime, until: datetime, *, speed: float = 1.0) -> list[Event]:
        out: list[Event] = []
        first = math.floor(since.timestamp() * speed) + 1
        for n in range(first, math.floor(until.timestamp() * speed) + 1):
            t = datetime.fromtimestamp(n / speed, UTC)
            if unit(self.seed, self.device.id, "access", speed, n) < self.access_rate_per_min(t) / 60:
                out.append((t, self.access_event(t, n)))
        for e in self.held_open(since.timestamp(), until.timestamp()):
            for at, name, held in (
                (e.start + self.HELD_OPEN_REPORT_S, "door_held_open", self.HELD_OPEN_REPORT_S),
                (e.start + e.length_s, "door_closed", e.length_s),
            ):
                if since.timestamp() < at <= until.timestamp():
                    t = datetime.fromtimestamp(at, UTC)
                    out.append((t, self.event(t, event=name, held_s=round(held, 1))))
        out.sort(key=lambda e: e[0])
        return out

    def access_event(self, t: datetime, n: int) -> dict[str, Any]:
        def draw(name: str) -> float:
            return unit(self.seed, self.device.id, name, n)

        h = self.place.local_hour(t)
        out_share = 0.5 + 0.35 * _bump(h, 8.0, 1.5) - 0.35 * _bump(h, 18.5, 2.0)
        m = draw("method")
        method = "card" if m < 0.5 else "face" if m < 0.85 else "qr" if m < 0.95 else "pin"
        denied = draw("denied") < self.DENIED_SHARE
        person = int(draw("who") * self.RESIDENTS) + (9000 if denied else 0)
        return self.event(
            t,
            event="access",
            result="denied" if denied else "granted",
            method=method,
            direction="out" if draw("dir") < out_share else "in",
            person_ref=f"{method}-{person:04d}",
        )


MODELS: dict[str, type[DeviceModel]] = {
    "smoke_detector": SmokeDetector,
    "lamppost": Lamppost,
    "manhole": Manhole,
    "access_gate": AccessGate,
}


def build(device: SimDevice, seed: int, place: Place | None = None) -> DeviceModel:
    return MODELS[device.kind](device, seed, place or Place())
