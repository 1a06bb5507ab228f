"""The live status line: is the fleet connected, how fast is it publishing, is anything failing."""

import threading
import time
from collections.abc import Callable
from typing import TextIO

from device_simulators.mqtt import Counters, Transport


class StatusLine:
    """On a terminal, one line on stderr redrawn every second; in a log, a plain line every
    `log_every_s`, so a long run leaves a readable trace instead of a screenful of carriage returns."""

    def __init__(
        self,
        transport: Transport,
        counters: Counters,
        stream: TextIO,
        *,
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.counters = counters
        self.stream = stream
        self.tty = stream.isatty()
        self.every = 1.0 if self.tty else log_every_s
        self._clock = clock
        self._last = (clock(), 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="status-line", daemon=True)

    def render(self) -> str:
        """Devices and connections, the rate since the previous line, totals and errors."""
        now, sent = self._clock(), self.counters.sent
        then, sent_before = self._last
        self._last = (now, sent)
        rate = (sent - sent_before) / max(now - then, 1e-9)
        t = self.transport
        return (
            f"devices {len(t.devices)}  connections {t.connected()}/{t.connections}  {rate:.1f} msg/s  "
            f"sent {sent}  acked {self.counters.acked}  errors {self.counters.errors}"
        )

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._print()

    def _print(self) -> None:
        line = self.render()
        if self.tty:
            self.stream.write(f"\r{line}  ")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._print()
        if self.tty:
            self.stream.write("\n")
