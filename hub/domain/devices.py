"""Device kinds and the registry's view of a device."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class DeviceKind(StrEnum):
    SMOKE_DETECTOR = "smoke_detector"
    LAMPPOST = "lamppost"
    MANHOLE = "manhole"
    ACCESS_GATE = "access_gate"


DeviceState = Literal["ok", "alerting", "offline", "low_battery"]
"""One per device, the first that holds: an open alert, offline (or never heard), a low battery, ok."""


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What ingest and the rule engine need to know about a registered device."""

    id: str
    kind: DeviceKind
    community: str
    building: str | None
    grid: str | None
    decommissioned: bool = False
    """taken out of service: its messages are refused (dead-lettered as `decommissioned`)"""
