"""Storms and communication outages: many alerts of one place that are one problem to an operator.

A storm case's subject names its kind, rule and place (`storm:lamp-no-voltage:c1:g2`), so the one
open case per subject that the cases table keeps is the one storm case of that rule and place, and a
storm case is told from a device's own case by its subject alone.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from hub.domain.devices import DeviceRef

Scope = Literal["community", "grid", "building"]

FLOOD_WINDOW = timedelta(minutes=10)
FLOOD_ABOVE = 10
"""Alarm-management practice (ISA-18.2, EEMUA 191): more than 10 new alarms in 10 minutes for one
operator is a flood; about one per 10 minutes is normal running. The health page and `/metrics` count
new alerts and cases per community over this window."""


class StormKind(StrEnum):
    STORM = "storm"
    """more new cases of one rule in one place than its window allows"""
    OUTAGE = "outage"
    """a large share of a place's devices silent at once"""


@dataclass(frozen=True, slots=True)
class Area:
    """The place a storm is counted in: a community, or one grid or building of it."""

    scope: Scope
    community: str
    part: str | None = None
    """the grid or building; None for a whole community"""

    @property
    def grid(self) -> str | None:
        return self.part if self.scope == "grid" else None

    @property
    def building(self) -> str | None:
        return self.part if self.scope == "building" else None

    def subject(self, kind: StormKind, rule_id: str) -> str:
        return ":".join([kind.value, rule_id, self.community, *([self.part] if self.part else [])])


def area_of(device: DeviceRef, scope: Scope) -> Area | None:
    """The device's place at `scope`; None for a device with no grid (or building) to count it in."""
    if scope == "community":
        return Area(scope, device.community)
    part = device.grid if scope == "grid" else device.building
    return None if part is None else Area(scope, device.community, part)


def is_outage(silent: int, devices: int, *, min_devices: int, share: float) -> bool:
    """Enough of a place's registered `devices` are `silent` to call it one outage."""
    return devices > 0 and silent >= min_devices and silent >= share * devices


KIND_NAMES: dict[str, tuple[str, str, str]] = {
    "smoke_detector": ("smoke detector", "smoke detectors", "烟感"),
    "lamppost": ("lamppost", "lampposts", "灯杆"),
    "manhole": ("manhole", "manholes", "井盖"),
    "access_gate": ("access gate", "access gates", "门禁"),
}
"""A device kind in English (one, many) and in Chinese, for the titles the hub writes."""


def place_names(area: Area) -> tuple[str, str]:
    """The area as a case title names it, in English and in Chinese."""
    if area.scope == "grid":
        return f"grid {area.part} of {area.community}", f"{area.community} {area.part} 网格"
    if area.scope == "building":
        return f"building {area.part} of {area.community}", f"{area.community} {area.part} 楼"
    return area.community, area.community


def storm_titles(
    area: Area, members: int, kinds: set[str], title: str, title_zh: str | None
) -> tuple[str, str]:
    """ "38 lampposts of grid g2 of c1: No mains voltage at a lamppost", and the same in Chinese."""
    where, where_zh = place_names(area)
    one_kind = KIND_NAMES.get(next(iter(kinds))) if len(kinds) == 1 else None
    things = (
        (one_kind[0] if members == 1 else one_kind[1])
        if one_kind
        else ("device" if members == 1 else "devices")
    )
    things_zh = one_kind[2] if one_kind else "设备"
    return (
        f"{members} {things} of {where}: {title}",
        f"{where_zh} {members} 个{things_zh}：{title_zh or title}",
    )


def outage_titles(area: Area, silent: int, devices: int) -> tuple[str, str]:
    where, where_zh = place_names(area)
    return (
        f"Communication outage in {where}: {silent} of {devices} devices went silent",
        f"{where_zh} 通信中断：{devices} 台设备中 {silent} 台无消息",
    )
