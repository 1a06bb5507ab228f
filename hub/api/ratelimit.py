"""Log-in rate limiting: failed attempts per username and per client address in a sliding window.

The counters live in the memory of one hub process. `hub run` serves the API from one process, so
they cover every request; with several API workers each worker counts on its own, so the effective
limits multiply by the number of workers.

An attempt is counted *before* the password is checked (so parallel guesses cannot slip past the
limit while argon2 runs) and taken back if it succeeds. A success clears the username's failures,
never the address's: logging in to one's own account does not buy more guesses at someone else's.
While a limit is reached every attempt is refused with 429, even with the right password, so the
refusal says nothing about the password.
"""

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

USER_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_S = 300.0
MAX_TRACKED_KEYS = 100_000


@dataclass(frozen=True)
class Refusal:
    retry_after_s: int
    message: str


@dataclass(frozen=True)
class Attempt:
    """A counted attempt, to be passed back to `succeeded` when the password was right."""

    user_key: str
    address_key: str
    at: float


class LoginLimiter:
    def __init__(
        self,
        *,
        user_limit: int = USER_LIMIT,
        address_limit: int = ADDRESS_LIMIT,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_tracked_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.user_limit = user_limit
        self.address_limit = address_limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_tracked_keys
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def begin(self, username: str, address: str) -> Attempt | Refusal:
        """Count an attempt, or refuse it when the username or the address has used up its window."""
        user_key, address_key = "user:" + username.strip().casefold(), "addr:" + address
        with self._lock:
            now = self._clock()
            refusal = self._check(user_key, self.user_limit, now, "for this username") or self._check(
                address_key, self.address_limit, now, "from your address"
            )
            if refusal is not None:
                return refusal
            if len(self._failures) >= self._max_keys:
                self._sweep(now)
            for key in (user_key, address_key):
                self._failures.setdefault(key, deque()).append(now)
            return Attempt(user_key, address_key, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the username's failures, and only this attempt's address count."""
        with self._lock:
            self._failures.pop(attempt.user_key, None)
            at_address = self._failures.get(attempt.address_key)
            if at_address is not None:
                with contextlib.suppress(ValueError):
                    at_address.remove(attempt.at)
                if not at_address:
                    del self._failures[attempt.address_key]

    def _check(self, key: str, limit: int, now: float, where: str) -> Refusal | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < limit:
            return None
        wait = max(1, math.ceil(times[0] + self.window_s - now))
        return Refusal(
            wait,
            f"too many failed log-ins {where} ({limit} within {self.window_s / 60:g} minutes); "
            f"try again in {wait} s",
        )

    def _sweep(self, now: float) -> None:
        """Drop expired counters; if spraying still fills the table, drop the oldest half."""
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window_s]:
            del self._failures[key]
        if len(self._failures) >= self._max_keys:
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) // 2]:
                del self._failures[key]


_create_lock = threading.Lock()


def limiter_of(state: object) -> LoginLimiter:
    """The limiter kept on an application's state, created on first use."""
    with _create_lock:
        limiter = getattr(state, "login_limiter", None)
        if not isinstance(limiter, LoginLimiter):
            limiter = LoginLimiter()
            setattr(state, "login_limiter", limiter)  # noqa: B010 - Starlette's State takes attributes
        return limiter
