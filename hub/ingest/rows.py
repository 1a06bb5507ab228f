"""A batch's accepted messages sorted for writing: rows per table, the readings the rules will see once
their rows are stored, each device's newest state, and status messages."""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from hub.domain.contract import AccessEvent, DeviceEvent, Status
from hub.domain.devices import Channel, DeviceKind
from hub.domain.readings import Reading
from hub.ingest.decode import Accepted
from hub.ingest.device_state import Seen, newer
from hub.store.telemetry import ACCESS_EVENTS, DEVICE_EVENTS, TELEMETRY_TABLES, Key, Table


def _picker(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A table's column values out of a payload's fields, in column order, as one C call. itemgetter
    gives a bare value, not a tuple, for a single key."""
    if len(columns) == 1:
        (only,) = columns
        return lambda values: (values[only],)
    return itemgetter(*columns)


_TELEMETRY: dict[DeviceKind, tuple[Table, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    kind: (table, _picker(table.columns)) for kind, table in TELEMETRY_TABLES.items()
}


_new = tuple.__new__
"""A `Seen` made from all its fields without its Python-level `__new__`, once per telemetry message."""


def pseudonym(key: bytes, person_ref: str | None) -> str | None:
    """A keyed hash: stable per person for counting and follow-up, useless without the key."""
    if person_ref is None:
        return None
    return hmac.new(key, person_ref.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(slots=True)
class TableRows:
    """One table's rows of a batch and the reading each stands for, under the key a stored row is
    reported back under (device id, device time, sequence). Two messages with one key keep two rows
    (the store skips the second) and one reading."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    readings: dict[Key, Reading] = field(default_factory=dict)


class BatchRows:
    def __init__(self, pseudonym_key: bytes) -> None:
        self._key = pseudonym_key
        self.tables: dict[Table, TableRows] = {}
        self.seen: dict[str, Seen] = {}
        self.statuses: list[tuple[str, Status, datetime]] = []
        self._telemetry: dict[DeviceKind, tuple[Callable[[dict[str, Any]], tuple[Any, ...]], TableRows]] = {}
        """Per device kind: its table's column picker and rows (hashing a Table per message costs more
        than the rest of the lookup)."""

    def readings(self) -> list[Reading]:
        return [r for table in self.tables.values() for r in table.readings.values()]

    def add(self, result: Accepted, received_at: datetime, adapter: str | None = None) -> None:
        device, p = result.device, result.payload
        device_id = device.id
        if result.channel is Channel.TELEMETRY:
            into = self._telemetry.get(device.kind)
            if into is None:
                table, pick = _TELEMETRY[device.kind]
                into = self._telemetry[device.kind] = (pick, self.tables.setdefault(table, TableRows()))
            pick, table_rows = into
            values = p.__dict__
            ts, seq = values["ts"], values["seq"]
            table_rows.rows.append((ts, device_id, seq, received_at, device.community, *pick(values)))
            table_rows.readings[(device_id, ts, seq)] = Reading(device, ts, values)
            self.seen[device_id] = newer(
                self.seen.get(device_id), _new(Seen, (device_id, received_at, seq, ts, values, adapter))
            )
            return
        if isinstance(p, Status):
            self.statuses.append((device_id, p, received_at))
            return
        head = (p.ts, device_id, p.seq, received_at, device.community)
        if isinstance(p, AccessEvent):
            into_table = self.tables.setdefault(ACCESS_EVENTS, TableRows())
            into_table.rows.append(
                (*head, p.result, p.method, p.direction, pseudonym(self._key, p.person_ref))
            )
            access: dict[str, Any] = {
                "event": p.event,
                "result": p.result,
                "method": p.method,
                "direction": p.direction,
            }
            into_table.readings[(device_id, p.ts, p.seq)] = Reading(device, p.ts, access, "event")
        elif isinstance(p, DeviceEvent):
            into_table = self.tables.setdefault(DEVICE_EVENTS, TableRows())
            into_table.rows.append((*head, p.event, p.held_s, p.count))
            event: dict[str, Any] = {"event": p.event, "held_s": p.held_s, "count": p.count}
            into_table.readings[(device_id, p.ts, p.seq)] = Reading(device, p.ts, event, "event")
        self.seen[device_id] = newer(
            self.seen.get(device_id), Seen(device_id, received_at, p.seq, p.ts, None, adapter)
        )
