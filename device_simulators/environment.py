"""The world the devices sense: where the site is (sun, local time), the weather, and seeded noise.

Everything here is a pure function of (seed, place, time), never of how often it is asked, so a fleet
that publishes every 10 s and one that publishes every minute see the same sky and the same rain, and a
run is repeatable from its seed and clock alone.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LAMP_ON_ELEVATION_DEG = -2.0
"""Photocells switch street lamps on a little after sunset: the sun about 2° below the horizon."""


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) named by `parts`: the same parts always give the same number."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def between(lo: float, hi: float, *parts: object) -> float:
    return lo + (hi - lo) * unit(*parts)


@dataclass(frozen=True)
class Place:
    """A site's position and clock. Without a latitude, lamps follow fixed hours (18:00 to 06:00)."""

    latitude: float | None = None
    longitude: float | None = None
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo keeps one instance per key: no cost to ask again

    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.zone)

    def local_hour(self, t: datetime) -> float:
        lt = self.local(t)
        return lt.hour + lt.minute / 60 + lt.second / 3600

    def sun_elevation_deg(self, t: datetime) -> float | None:
        """NOAA's low-precision solar position (about a minute of error in sunrise and sunset times);
        without a longitude, solar noon is taken at the time zone's standard meridian."""
        if self.latitude is None:
            return None
        u = t.astimezone(UTC)
        longitude = self.longitude
        if longitude is None:
            offset = self.local(t).utcoffset() or timedelta()
            longitude = offset.total_seconds() / 3600 * 15
        doy = u.timetuple().tm_yday
        minutes = u.hour * 60 + u.minute + u.second / 60
        g = 2 * math.pi / 365 * (doy - 1 + (minutes / 60 - 12) / 24)
        eq_time = 229.18 * (
            0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
            - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g)
        )  # fmt: skip
        decl = (
            0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g)
        )  # fmt: skip
        hour_angle = math.radians((minutes + eq_time + 4 * longitude) / 4 - 180)
        lat = math.radians(self.latitude)
        cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
        return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))

    def is_dark(self, t: datetime) -> bool:
        elevation = self.sun_elevation_deg(t)
        if elevation is None:
            h = self.local_hour(t)
            return h >= 18 or h < 6
        return elevation < LAMP_ON_ELEVATION_DEG


@dataclass(frozen=True)
class Shower:
    start: datetime
    duration_s: float
    intensity_mm_h: float


@dataclass(frozen=True)
class RainProcess:
    """Occasional showers over one community: in each 3-hour window a shower falls with probability
    `chance`, at a seeded time, length and intensity. Light enough that drains cope: heavy rain that
    floods the streets is the `flood` scenario's job, not the background's."""

    seed: int
    area: str
    chance: float = 0.12
    window_s: int = 3 * 3600
    min_mm_h: float = 0.5
    max_mm_h: float = 10.0

    def showers(self, since: datetime, until: datetime) -> list[Shower]:
        """Showers that fall at least partly in [since, until)."""
        first = int(since.timestamp() // self.window_s) - 1
        last = int(until.timestamp() // self.window_s)
        out = []
        for w in range(first, last + 1):
            if unit(self.seed, self.area, "rain", w) >= self.chance:
                continue
            duration = between(15 * 60, 90 * 60, self.seed, self.area, "rain-len", w)
            offset = between(0, self.window_s - duration, self.seed, self.area, "rain-at", w)
            start = datetime.fromtimestamp(w * self.window_s + offset, UTC)
            # Rain intensities are skewed: many light showers, few heavy ones.
            intensity = (
                self.min_mm_h
                + (self.max_mm_h - self.min_mm_h) * unit(self.seed, self.area, "rain-mm", w) ** 2
            )
            if start < until and start + timedelta(seconds=duration) > since:
                out.append(Shower(start, duration, intensity))
        return out

    def intensity_mm_h(self, t: datetime) -> float:
        return sum(s.intensity_mm_h for s in self.showers(t, t + timedelta(seconds=1)))


def reservoir_cm(
    showers: list[Shower], t: datetime, *, lag_s: float, tau_s: float, cm_per_mm: float
) -> float:
    """Water above the dry-weather level in a drain fed by `showers`: a linear reservoir whose inflow
    arrives `lag_s` after the rain falls and which drains with time constant `tau_s`, so levels rise
    during a shower, peak after it, and fall slowly."""
    level = 0.0
    for s in showers:
        u = (t - s.start).total_seconds() - lag_s
        if u <= 0:
            continue
        inflow_cm_s = cm_per_mm * s.intensity_mm_h / 3600
        if u <= s.duration_s:
            level += inflow_cm_s * tau_s * (1 - math.exp(-u / tau_s))
        else:
            peak = inflow_cm_s * tau_s * (1 - math.exp(-s.duration_s / tau_s))
            level += peak * math.exp(-(u - s.duration_s) / tau_s)
    return level
