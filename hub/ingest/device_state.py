"""Live device state (last seen, battery, signal, last values), written at most every few seconds.

One row per device is updated per flush instead of one update per message; a status message (online,
offline) flushes at once, since it changes what the dashboard shows.
"""

import json
import time
from datetime import datetime
from typing import Any

from hub.domain.contract import DevicePayload
from hub.domain.devices import DeviceRef
from hub.store.devices import StateUpdate

_ENVELOPE = ("device_id", "ts", "seq", "kind", "rssi_dbm")


class StateBuffer:
    def __init__(self, flush_every_s: float) -> None:
        self._every = flush_every_s
        self._flush_at = 0.0
        self.pending: dict[str, StateUpdate] = {}

    def due(self) -> bool:
        return time.monotonic() >= self._flush_at

    def with_batch(self, seen: dict[str, StateUpdate]) -> dict[str, StateUpdate]:
        """What a flush together with this batch writes: a copy, so a failed transaction leaves the
        pending state as it was."""
        return merged(self.pending.copy(), seen)

    def keep(self, seen: dict[str, StateUpdate]) -> None:
        """The batch committed without a flush: its state waits for the next one."""
        merged(self.pending, seen)

    def written(self) -> None:
        self.pending = {}
        self._flush_at = time.monotonic() + self._every


def merged(pending: dict[str, StateUpdate], seen: dict[str, StateUpdate]) -> dict[str, StateUpdate]:
    """`pending` updated in place with `seen`, keeping per device the update with the higher sequence."""
    for device_id, new in seen.items():
        old = pending.get(device_id)
        if old is None or old.last_seq is None or new.last_seq is None or old.last_seq <= new.last_seq:
            pending[device_id] = new
    return pending


def state_update(
    device: DeviceRef,
    p: DevicePayload,
    received_at: datetime,
    values: dict[str, Any] | None,
    previous: StateUpdate | None,
    adapter: str | None = None,
) -> StateUpdate:
    if previous is not None and previous.last_seq is not None and previous.last_seq > p.seq:
        return previous
    last_values = None
    if values is not None:
        last_values = json.dumps(
            {k: v for k, v in values.items() if k not in _ENVELOPE} | {"ts": p.ts.isoformat()}
        )
    battery = values.get("battery_pct") if values is not None else None
    rssi = values.get("rssi_dbm") if values is not None else None
    return StateUpdate(device.id, received_at, p.seq, battery, rssi, last_values, adapter)
