"""A reading as the rule engine sees it: a device, its time, and the values it sent."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.devices import DeviceRef


@dataclass(frozen=True, slots=True)
class Reading:
    device: DeviceRef
    ts: datetime
    values: Mapping[str, Any]
    source: str = "telemetry"
