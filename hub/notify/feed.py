"""Wakes the SSE streams of one API process when a case event commits.

One LISTEN connection per process, not one per browser: streams wait on an asyncio event and then read
`case_events` themselves. A notification is only a hint to look; streams also look on a timer, so a
notification lost while reconnecting delays an event, never drops it.
"""

import asyncio
import contextlib
import logging
import threading

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "case_events"


class CaseEventFeed:
    def __init__(self, database_url: str, loop: asyncio.AbstractEventLoop) -> None:
        self._url = database_url
        self._loop = loop
        self._changed = asyncio.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="case-event-feed", daemon=True)
        self.version = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Returns at once, so it never delays a shutdown; the thread ends within half a second."""
        self._stop.set()

    async def wait(self, seen: int, timeout_s: float) -> bool:
        """True when something committed since `version` was `seen`; False after `timeout_s` of quiet."""
        if self.version != seen:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._bump)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake()  # events may have committed while no one was listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake()
            except psycopg.Error as exc:
                log.warning("case event feed lost the database (%s); reconnecting", exc)
                self._stop.wait(1.0)
