"""Live device state (last seen, battery, signal, last values), written at most every few seconds.

One row per device is updated per flush instead of one update per message; a device's status
message (online, offline) writes its row at once, since it changes what the dashboard shows. A batch
keeps each device's newest reading as it came (`Seen`); its row values are rendered as JSON only when a
flush writes them, so a device heard twenty times between two flushes costs one rendering, not twenty
(by pydantic's encoder, at less than half the standard library's cost).
"""

import time
from collections.abc import Callable, Collection
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


class Flush(NamedTuple):
    """What one transaction writes of the live state: these devices' rows."""

    devices: frozenset[str]
    updates: list[StateUpdate]
    at: float
    """monotonic time it was planned: when the devices of its batch started waiting"""


class StateBuffer:
    """Each device's newest unwritten reading, written once the device has waited `flush_every_s`.

    Devices are written in the order they started waiting, a few hundred with each batch, rather than
    all of them every `flush_every_s`: one transaction writing ten thousand state rows held up the
    batches behind it for half a second, which was the whole tail of the alert latency.
    """

    def __init__(
        self, flush_every_s: float, clock: Callable[[], float] = time.monotonic, most: int | None = None
    ) -> None:
        """`most`: at most this many waiting devices written with one batch (None: all that are due).
        A starting hub hears every device within a second or two, so they all fall due at once, and
        writing all their rows (each device coming online) with one batch held the alerts behind it
        for most of a second. Those left over stay due and go first with the next batches."""
        self._every = flush_every_s
        self._clock = clock
        self._most = most
        self.pending: dict[str, Seen] = {}
        self._since: dict[str, float] = {}
        """monotonic time each pending device started waiting, oldest first"""

    def due(self) -> bool:
        """Whether some device has waited its time (checked between batches when no message comes)."""
        oldest = next(iter(self._since.values()), None)
        return oldest is not None and oldest <= self._clock() - self._every

    def plan(self, seen: dict[str, Seen], urgent: Collection[str] = (), everything: bool = False) -> Flush:
        """What a transaction writes together with this batch (`seen`): the devices that have waited
        their time, those in `urgent` (a status message came, which must find its device's row
        written), or all of them (`everything`, at shutdown); each with its newest reading, this
        batch's included. Nothing changes here, in case the transaction fails."""
        now = self._clock()
        cutoff = now - self._every
        chosen: set[str] = set()
        if everything:
            chosen.update(self.pending, seen)
        else:
            for device_id, since in self._since.items():
                if since > cutoff or len(chosen) == self._most:
                    break
                chosen.add(device_id)
            if now <= cutoff:
                chosen.update(seen)
            chosen.update(d for d in urgent if d in self.pending or d in seen)
        updates = []
        for device_id in chosen:
            new = seen.get(device_id)
            updates.append(
                state_update(newer(self.pending.get(device_id), new) if new else self.pending[device_id])
            )
        return Flush(frozenset(chosen), updates, now)

    def committed(self, flush: Flush, seen: dict[str, Seen]) -> None:
        """The transaction committed: the batch's readings wait with the others, the written ones go."""
        for device_id, new in seen.items():
            self._since.setdefault(device_id, flush.at)
            self.pending[device_id] = newer(self.pending.get(device_id), new)
        for device_id in flush.devices:
            self.pending.pop(device_id, None)
            self._since.pop(device_id, None)


def newer(previous: Seen | None, new: Seen) -> Seen:
    """Of a device's two readings (within a batch, or pending and new), the one with the higher
    sequence (the later one on a tie) stands for the device."""
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
