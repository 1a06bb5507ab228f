"""A raw message as the MQTT callback hands it over, and how the pipeline takes them in batches."""

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.domain.deadletters import AdapterStep
from hub.ingest.decode import Accepted


@dataclass(slots=True)
class Inbound:
    """Treated as immutable (changed copies are made with `dataclasses.replace`); not declared frozen,
    because a frozen dataclass sets each of its eleven fields through `object.__setattr__`, which made
    building one the costliest step of taking a message off the socket."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    client_id: str | None = None
    partition: int = 0
    adapter: str | None = None
    """the adapter that mapped this message (or refused it); None for a native message"""
    refused_at: AdapterStep | None = None
    refusal: str = ""
    """set when the adapter refused the vendor message: where and why"""
    vendor: "Inbound | None" = None
    """the vendor's message this contract message was mapped from"""
    replay_of: int | None = None
    """the dead letter this message replays through its adapter (`adapter`)"""
    committed: threading.Event | None = None
    """set once the batch holding it is committed: what an HTTP push waits for before answering"""
    decoded: Accepted | None = None
    """accepted while the batch before its own was written (`Pipeline` decodes ahead under a backlog)"""


Ack = Callable[[Sequence[Inbound]], None]
"""Acknowledges these messages (the QoS 1 ones) on the session each came from."""


class Inbox(queue.Queue[Inbound]):
    """The bounded queue between the MQTT client and the pipeline, which also moves messages in lists:
    a chunk read from the socket goes in, and what is waiting comes out, under one lock each."""

    def put_many(self, items: Sequence[Inbound]) -> None:
        """All of them, in order, blocking while the queue is full: the MQTT client then stops reading
        and the broker holds the rest."""
        i = 0
        while i < len(items):
            with self.not_full:
                while 0 < self.maxsize <= self._qsize():
                    self.not_full.wait()
                room = (
                    len(items) - i if self.maxsize <= 0 else min(len(items) - i, self.maxsize - self._qsize())
                )
                self.queue.extend(items[i : i + room])
                self.unfinished_tasks += room
                i += room
                self.not_empty.notify()

    def take(self, limit: int) -> list[Inbound]:
        """Up to `limit` messages that are waiting now, without waiting for more."""
        with self.not_empty:
            n = min(limit, self._qsize())
            out = [self.queue.popleft() for _ in range(n)]
            if n:
                self.not_full.notify_all()
            return out


def collect(inbox: "queue.Queue[Inbound]", max_rows: int, max_delay_s: float) -> list[Inbound]:
    """A batch: what arrives within `max_delay_s` of its first message's receipt, at most `max_rows`;
    empty when nothing came for a moment (so the caller can do its periodic work).

    The delay counts from when the first message was received, not from when the pipeline took it: a
    message that waited in the queue while the previous batch was written has used up its delay, so
    under load a batch is what came meanwhile and no message waits twice (the alert latency)."""
    try:
        first = inbox.get(timeout=0.05)
    except queue.Empty:
        return []
    batch = [first]
    waited = max(0.0, time.time() - first.received_at.timestamp())
    deadline = time.monotonic() + max_delay_s - waited
    while len(batch) < max_rows:
        if isinstance(inbox, Inbox) and (waiting := inbox.take(max_rows - len(batch))):
            batch += waiting
            continue
        remaining = deadline - time.monotonic()
        try:
            batch.append(inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait())
        except queue.Empty:
            break
    return batch
