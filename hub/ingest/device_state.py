"""Live device state (last seen, battery, signal, last values), written at most every few seconds.

One row per device is updated per flush instead of one update per message; a status message (online,
offline) flushes at once, since it changes what the dashboard shows. A batch keeps each device's newest
reading as it came (`Seen`); its row values are rendered as JSON only when a flush writes them, so a
device heard twenty times between two flushes costs one rendering, not twenty (by pydantic's encoder,
at less than half the standard library's cost).
"""

import time
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import to_json

from hub.store.devices import StateUpdate

_ENVELOPE = ("device_id", "ts", "seq", "kind", "rssi_dbm")


class Seen(NamedTuple):
    """A device's newest reading in a batch, as received: what its state row is made of."""

    device_id: str
    received_at: datetime
    seq: int
    ts: datetime
    values: dict[str, Any] | None
    """the telemetry values; None for an event"""
    adapter: str | None


class StateBuffer:
    def __init__(self, flush_every_s: float) -> None:
        self._every = flush_every_s
        self._flush_at = 0.0
        self.pending: dict[str, Seen] = {}

    def due(self) -> bool:
        return time.monotonic() >= self._flush_at

    def with_batch(self, seen: dict[str, Seen]) -> list[StateUpdate]:
        """What a flush together with this batch writes (the pending state is left as it was, in case
        the transaction fails)."""
        return [state_update(s) for s in merged(self.pending.copy(), seen).values()]

    def updates(self) -> list[StateUpdate]:
        """What a flush of the pending state alone writes."""
        return [state_update(s) for s in self.pending.values()]

    def keep(self, seen: dict[str, Seen]) -> None:
        """The batch committed without a flush: its state waits for the next one."""
        merged(self.pending, seen)

    def written(self) -> None:
        self.pending = {}
        self._flush_at = time.monotonic() + self._every


def merged(pending: dict[str, Seen], seen: dict[str, Seen]) -> dict[str, Seen]:
    """`pending` updated in place with `seen`, keeping per device the reading with the higher sequence."""
    for device_id, new in seen.items():
        old = pending.get(device_id)
        if old is None or old.seq <= new.seq:
            pending[device_id] = new
    return pending


def newer(previous: Seen | None, new: Seen) -> Seen:
    """Within a batch, the reading with the higher sequence (the later one on a tie) stands for the
    device."""
    return previous if previous is not None and previous.seq > new.seq else new


def state_update(s: Seen) -> StateUpdate:
    last_values = None
    battery = rssi = None
    if s.values is not None:
        last_values = to_json(
            {k: v for k, v in s.values.items() if k not in _ENVELOPE} | {"ts": s.ts.isoformat()}
        ).decode()
        battery = s.values.get("battery_pct")
        rssi = s.values.get("rssi_dbm")
    return StateUpdate(s.device_id, s.received_at, s.seq, battery, rssi, last_values, s.adapter)
