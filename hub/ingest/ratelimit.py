"""Per-device rate limit: one faulty or hijacked device must not starve the rest of the community.

A token bucket per device, refilled on hub receive time. Messages over the limit are refused, not
dropped: the pipeline dead-letters them with reason `rate_limited`, so they stay countable and
inspectable. Pure logic, no I/O.
"""

from dataclasses import dataclass


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
