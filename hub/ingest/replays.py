"""Replaying an adapter's dead letters once the adapter is fixed. A request (API or command line) is a
row; the worker serving ingest partition 0 takes it and puts the refused vendor messages on the ingest
queue again, to be mapped by the adapter in force and then checked, rate-limit aside, like new ones.
Each dead letter is marked replayed in the transaction that stores what it became, so a replay that
stops half-way resumes where it stopped, and what was stored before is stored once."""

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from hub.ingest.adapted import AdapterSet
from hub.ingest.inbound import Inbound
from hub.store import adapter_replays as store

log = logging.getLogger(__name__)

CHUNK = 500


class ReplayFailed(Exception):
    pass


class Replayer:
    def __init__(
        self,
        pool: ConnectionPool,
        inbox: "queue.Queue[Inbound]",
        adapters: AdapterSet,
        partitions: Callable[[], list[int]],
        commit_timeout_s: float,
    ) -> None:
        self._pool = pool
        self._inbox = inbox
        self._adapters = adapters
        self._partitions = partitions
        self._timeout = commit_timeout_s

    def run_pending(self) -> None:
        """A scheduler job: take one waiting request, if this worker serves partition 0."""
        if 0 not in self._partitions():
            return
        with self._pool.connection() as conn, conn.transaction():
            taken = store.take(conn)
        if taken is None:
            return
        replay_id, adapter = taken
        replayed, error = 0, None
        try:
            replayed = self._replay(adapter)
        except ReplayFailed as exc:
            error = str(exc)
        with self._pool.connection() as conn:
            store.finish(conn, replay_id, replayed, error)
        log.info(
            "replay %d of adapter %s: %d dead letter(s) replayed%s",
            replay_id,
            adapter,
            replayed,
            f"; {error}" if error else "",
        )

    def _replay(self, adapter: str) -> int:
        if self._adapters.by_id(adapter) is None:
            raise ReplayFailed(f"adapter {adapter} is not in force (no such adapter, or its file is refused)")
        with self._pool.connection() as conn:
            up_to = store.last_id(conn)
        after, total = 0, 0
        while True:
            with self._pool.connection() as conn:
                chunk = store.refusals(conn, adapter, after, up_to, CHUNK)
            if not chunk:
                return total
            done = [threading.Event() for _ in chunk]
            now = datetime.now(UTC)
            for r, event in zip(chunk, done, strict=True):
                message = Inbound(
                    r.topic,
                    r.payload,
                    0,
                    0,
                    now,
                    client_id=r.client_id,
                    adapter=adapter,
                    replay_of=r.id,
                    committed=event,
                )
                try:
                    self._inbox.put(message, timeout=self._timeout)
                except queue.Full:
                    raise ReplayFailed(f"ingest is behind; {total} replayed, request again") from None
            if not all(e.wait(self._timeout) for e in done):
                raise ReplayFailed(f"not committed in time; {total} replayed, request again")
            total += len(chunk)
            after = chunk[-1].id
