"""A batch's accepted messages sorted for writing: rows per table, the readings the rules will see once
their rows are stored, each device's newest state, and status messages."""

import hashlib
import hmac
from datetime import datetime
from typing import Any

from hub.domain.contract import AccessEvent, DeviceEvent, Status
from hub.domain.devices import Channel
from hub.domain.readings import Reading
from hub.ingest.decode import Accepted
from hub.ingest.device_state import Seen, newer
from hub.store.telemetry import ACCESS_EVENTS, DEVICE_EVENTS, TELEMETRY_TABLES, Table

ReadingKey = tuple[str, str, datetime, int]
"""(table, device id, device time, sequence): the key a stored row is reported back under."""


def pseudonym(key: bytes, person_ref: str | None) -> str | None:
    """A keyed hash: stable per person for counting and follow-up, useless without the key."""
    if person_ref is None:
        return None
    return hmac.new(key, person_ref.encode(), hashlib.sha256).hexdigest()[:32]


class BatchRows:
    def __init__(self, pseudonym_key: bytes) -> None:
        self._key = pseudonym_key
        self.rows: dict[Table, list[tuple[Any, ...]]] = {}
        self.readings: dict[ReadingKey, Reading] = {}
        self.seen: dict[str, Seen] = {}
        self.statuses: list[tuple[str, Status, datetime]] = []

    def add(self, result: Accepted, received_at: datetime, adapter: str | None = None) -> None:
        device, p = result.device, result.payload
        if isinstance(p, Status):
            self.statuses.append((device.id, p, received_at))
            return
        head = (p.ts, device.id, p.seq, received_at, device.community)
        values: dict[str, Any] | None = None
        if result.channel is Channel.TELEMETRY:
            table = TELEMETRY_TABLES[device.kind]
            values = p.__dict__
            self.rows.setdefault(table, []).append(head + tuple(values[c] for c in table.columns))
            self.readings[(table.name, device.id, p.ts, p.seq)] = Reading(device, p.ts, values)
        elif isinstance(p, AccessEvent):
            self.rows.setdefault(ACCESS_EVENTS, []).append(
                (*head, p.result, p.method, p.direction, pseudonym(self._key, p.person_ref))
            )
            access: dict[str, Any] = {
                "event": p.event,
                "result": p.result,
                "method": p.method,
                "direction": p.direction,
            }
            self.readings[(ACCESS_EVENTS.name, device.id, p.ts, p.seq)] = Reading(
                device, p.ts, access, "event"
            )
        elif isinstance(p, DeviceEvent):
            self.rows.setdefault(DEVICE_EVENTS, []).append((*head, p.event, p.held_s, p.count))
            event: dict[str, Any] = {"event": p.event, "held_s": p.held_s, "count": p.count}
            self.readings[(DEVICE_EVENTS.name, device.id, p.ts, p.seq)] = Reading(
                device, p.ts, event, "event"
            )
        self.seen[device.id] = newer(
            self.seen.get(device.id), Seen(device.id, received_at, p.seq, p.ts, values, adapter)
        )
