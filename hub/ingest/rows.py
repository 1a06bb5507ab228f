"""A batch's accepted messages sorted for writing: rows per table, the readings the rules will see once
their rows are stored, each device's newest state, and status messages."""

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

from hub.domain.contract import AccessEvent, DeviceEvent, Status
from hub.domain.devices import Channel, DeviceKind
from hub.domain.readings import Reading
from hub.ingest.decode import Accepted
from hub.ingest.device_state import Seen, newer
from hub.store.telemetry import ACCESS_EVENTS, DEVICE_EVENTS, TELEMETRY_TABLES, Table

ReadingKey = tuple[str, str, datetime, int]
"""(table, device id, device time, sequence): the key a stored row is reported back under."""


def _picker(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A table's column values out of a payload's fields, in column order, as one C call. itemgetter
    gives a bare value, not a tuple, for a single key."""
    if len(columns) == 1:
        (only,) = columns
        return lambda values: (values[only],)
    return itemgetter(*columns)


_TELEMETRY: dict[DeviceKind, tuple[Table, str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    kind: (table, table.name, _picker(table.columns)) for kind, table in TELEMETRY_TABLES.items()
}


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
        self._telemetry: dict[
            DeviceKind, tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]], list[Any]]
        ] = {}
        """Per device kind: its table's name, column picker and row list in `rows` (hashing a Table
        per message costs more than the rest of the lookup)."""

    def add(self, result: Accepted, received_at: datetime, adapter: str | None = None) -> None:
        device, p = result.device, result.payload
        if isinstance(p, Status):
            self.statuses.append((device.id, p, received_at))
            return
        values: dict[str, Any] | None = None
        if result.channel is Channel.TELEMETRY:
            into = self._telemetry.get(device.kind)
            if into is None:
                table, name, pick = _TELEMETRY[device.kind]
                into = self._telemetry[device.kind] = (name, pick, self.rows.setdefault(table, []))
            name, pick, rows = into
            values = p.__dict__
            rows.append((p.ts, device.id, p.seq, received_at, device.community, *pick(values)))
            self.readings[(name, device.id, p.ts, p.seq)] = Reading(device, p.ts, values)
        else:
            head = (p.ts, device.id, p.seq, received_at, device.community)
            if isinstance(p, AccessEvent):
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
