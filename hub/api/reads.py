"""Where the read-heavy routes read: a streaming standby (`HUB_DATABASE_READ_URL`) while it hands out
connections, otherwise the primary connection the request already holds.

A standby that cannot give a connection within `HUB_DATABASE_READ_WAIT_S` — stopped, unreachable, or
its pool exhausted — or whose connection breaks during a query is left alone for
`HUB_DATABASE_READ_RETRY_S`: meanwhile the reads go to the primary, so an outage of the standby costs
the requests that find it gone one wait per retry period and does not fail the routes (a query cut off
mid-way fails that one request). The pool checks a connection on checkout, so a standby that went away is noticed there
rather than in the middle of a route."""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from hub.services import health as health_service

log = logging.getLogger(__name__)


class Standby:
    """The standby's pool, not opened here (the hub opens it at start-up without waiting), and whether
    it is out."""

    def __init__(self, pool: ConnectionPool, *, wait_s: float, retry_s: float) -> None:
        self.pool = pool
        self._wait_s = wait_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._out_until = 0.0

    @property
    def out(self) -> bool:
        """True while the reads go to the primary after a failure of the standby."""
        return time.monotonic() < self._out_until

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any] | None]:
        """A standby connection, or None while the standby is out: read on the primary then."""
        if self.out:
            yield None
            return
        try:
            conn = self.pool.getconn(timeout=self._wait_s)
        except psycopg.OperationalError as exc:
            self._failed(exc)
            yield None
            return
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._failed(exc)
            raise
        finally:
            self.pool.putconn(conn)

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            if not self.out:
                log.warning("standby unavailable, reading on the primary for %.0f s: %s", self._retry_s, exc)
            self._out_until = time.monotonic() + self._retry_s


def health(standby: Standby | None, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The standby's state for the health page and `/metrics` (None without a standby), `conn` being the
    primary; taken through the same checkout as the reads, so it says where they go. A standby that
    breaks while it is asked is reported down rather than failing the health page."""
    if standby is None:
        return None
    try:
        with standby.connection() as found:
            return health_service.standby(conn, found)
    except psycopg.OperationalError:
        return health_service.standby(conn, None)
