"""A raw message as the MQTT callback hands it over, and how the pipeline takes them in batches."""

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.domain.deadletters import AdapterStep


@dataclass(frozen=True, slots=True)
class Inbound:
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


Ack = Callable[[Sequence[Inbound]], None]
"""Acknowledges these messages (the QoS 1 ones) on the session each came from."""


def collect(inbox: "queue.Queue[Inbound]", max_rows: int, max_delay_s: float) -> list[Inbound]:
    """A batch: what arrives within `max_delay_s` of its first message, at most `max_rows`; empty when
    nothing came for a moment (so the caller can do its periodic work)."""
    try:
        first = inbox.get(timeout=0.05)
    except queue.Empty:
        return []
    batch = [first]
    deadline = time.monotonic() + max_delay_s
    while len(batch) < max_rows:
        remaining = deadline - time.monotonic()
        try:
            batch.append(inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait())
        except queue.Empty:
            break
    return batch
