"""The site file: communities, grids, buildings and how many devices of each kind stand where.

Device ids and plan positions are derived from the file, so every run of the same file describes the
same fleet.
"""

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from device_simulators.environment import Place


class BuildingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    smoke_detectors: int = Field(default=0, ge=0, le=10_000)
    access_gates: int = Field(default=0, ge=0, le=100)


class GridSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    buildings: list[BuildingSpec] = []
    lampposts: int = Field(default=0, ge=0, le=10_000)
    manholes: int = Field(default=0, ge=0, le=10_000)


class CommunitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    grids: list[GridSpec]


class SiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    street_office: str
    latitude: float | None = Field(default=None, ge=-90, le=90, description="lamps follow the sun here")
    longitude: float | None = Field(
        default=None, ge=-180, le=180, description="default: the time zone's standard meridian"
    )
    timezone: str = Field(default="UTC", description="local time for rush hours, dimming and meals")
    communities: list[CommunitySpec]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    def place(self) -> Place:
        return Place(self.latitude, self.longitude, self.timezone)


@dataclass(frozen=True)
class SimDevice:
    id: str
    kind: str
    community: str
    grid: str
    building: str | None
    plan_x: float
    plan_y: float

    def registration(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "community": self.community,
            "grid": self.grid,
            "building": self.building,
            "plan_x": self.plan_x,
            "plan_y": self.plan_y,
        }


def load(path: Path) -> SiteSpec:
    return SiteSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def devices(site: SiteSpec) -> list[SimDevice]:
    """Lay the fleet out on a 1000×1000 plan per community: grids side by side, buildings in a row."""
    out: list[SimDevice] = []
    for c in site.communities:
        width = 1000 / max(len(c.grids), 1)
        for gi, g in enumerate(c.grids):
            x0 = gi * width
            for bi, b in enumerate(g.buildings):
                bx = x0 + 60 + bi * 160
                for n in range(b.smoke_detectors):
                    out.append(
                        SimDevice(
                            f"{c.id}-{b.id}-sd{n + 1:02d}",
                            "smoke_detector",
                            c.id,
                            g.id,
                            b.id,
                            bx + (n % 4) * 25,
                            120 + (n // 4) * 25,
                        )
                    )
                for n in range(b.access_gates):
                    out.append(
                        SimDevice(
                            f"{c.id}-{b.id}-gate{n + 1}",
                            "access_gate",
                            c.id,
                            g.id,
                            b.id,
                            bx + 50,
                            260 + n * 20,
                        )
                    )
            for n in range(g.lampposts):
                out.append(
                    SimDevice(
                        f"{c.id}-{g.id}-lamp{n + 1:02d}",
                        "lamppost",
                        c.id,
                        g.id,
                        None,
                        x0 + 40 + n * (width - 80) / max(g.lampposts, 1),
                        420,
                    )
                )
            for n in range(g.manholes):
                out.append(
                    SimDevice(
                        f"{c.id}-{g.id}-mh{n + 1:02d}",
                        "manhole",
                        c.id,
                        g.id,
                        None,
                        x0 + 70 + n * (width - 140) / max(g.manholes, 1),
                        480,
                    )
                )
    return out
