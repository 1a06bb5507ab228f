"""The pipeline's own database connection, and its rule for failures: keep the batch, retry, and
acknowledge nothing meanwhile, so the broker holds what the hub cannot store."""

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg

from hub.ingest.metrics import IngestMetrics
from hub.store.telemetry import ensure_staging

log = logging.getLogger(__name__)


class IngestDatabase:
    def __init__(self, url: str, metrics: IngestMetrics) -> None:
        self._url = url
        self._metrics = metrics
        self._conn: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        """The open connection, or a new one (with its staging tables) after a failure."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, connect_timeout=5, autocommit=True)
            ensure_staging(self._conn)
            self._metrics.db_reconnects += 1
        return self._conn

    def retrying(self, work: Callable[[], None]) -> bool:
        """Run `work` until it gets through a database error, with a backoff up to 10 s; True when it
        had to wait for the database (nothing was acknowledged meanwhile)."""
        delay = 0.2
        failed = False
        while True:
            try:
                work()
                return failed
            except psycopg.Error as exc:
                failed = True
                self._metrics.db_errors += 1
                log.warning("database write failed (%s); retrying in %.1fs, nothing acknowledged", exc, delay)
                self.close()
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
