"""Per-device rate limit: one faulty or hijacked device must not starve the rest of the community.

A token bucket per device, refilled on hub receive time. Messages over the limit are refused, not
dropped: the pipeline dead-letters them with reason `rate_limited`, so they stay countable and
inspectable. Pure logic, no I/O.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hub.ingest.inbound import Inbound

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class DeviceRateLimit:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, device_id: str, at: float) -> bool:
        """`at`: receive time in seconds (any monotonic origin, the same for every call)."""
        b = self._buckets.get(device_id)
        if b is None:
            self._buckets[device_id] = _Bucket(self._burst - 1.0, at)
            return True
        if at > b.at:
            b.tokens = min(self._burst, b.tokens + (at - b.at) * self._rate)
            b.at = at
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False


class RateGate:
    """The limit applied to a batch, logging each limited device at most once a minute."""

    def __init__(self, limit: DeviceRateLimit) -> None:
        self._limit = limit
        self._logged: dict[str, float] = {}

    def over_limit(self, batch: Sequence[Inbound]) -> dict[int, str]:
        """Refusal reasons keyed by `id()` of the message. Decided once per message, before any
        retry, so a batch retried after a database error refuses exactly what it refused the first time."""
        out: dict[int, str] = {}
        allow = self._limit.allow
        received, at = None, 0.0
        for m in batch:
            if m.replay_of is not None:  # an operator's replay of refused messages, not device traffic
                continue
            levels = m.topic.rsplit("/", 2)
            device_id = levels[-2] if len(levels) == 3 else m.topic
            if m.received_at is not received:  # a chunk read from the socket shares one receipt time
                received, at = m.received_at, m.received_at.timestamp()
            if not allow(device_id, at):
                out[id(m)] = f"rate_limited: device {device_id} sent more than its limit"
                now = time.monotonic()
                if now - self._logged.get(device_id, -60.0) >= 60.0:
                    self._logged[device_id] = now
                    log.warning(
                        "device %s is over its rate limit; excess messages are dead-lettered", device_id
                    )
        return out
