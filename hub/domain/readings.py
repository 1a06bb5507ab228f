"""A reading as the rule engine sees it: a device, its time, and the values it sent.

Not a frozen dataclass although nothing changes a reading: ingest makes one per message, and a frozen
dataclass's `__init__` (one `object.__setattr__` per field) costs four times a plain one's.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.devices import DeviceRef


@dataclass(slots=True)
class Reading:
    device: DeviceRef
    ts: datetime
    values: Mapping[str, Any]
    source: str = "telemetry"
