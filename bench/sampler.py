"""CPU counters of the measured processes, taken together, and a sampler that keeps a time line of them.

The drain mode must start its CPU window at the hub's first receive, a moment known only afterwards
(from the stored rows' received_at), so the counters are sampled every 20 ms while the hub drains and
read back at that moment by interpolation.
"""

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench import procstat

CHILDREN_EVERY_S = 1.0
"""How often the list of PostgreSQL's processes is read again: scanning /proc each sample would cost
the benchmark more CPU than the counters themselves."""


@dataclass(frozen=True)
class Snapshot:
    """CPU counters taken together, so every component is measured over the same window; `at` on the
    monotonic clock, `wall` on the wall clock (what the hub stamps received_at with)."""

    at: float
    wall: float
    hub: float
    broker: float
    db: float
    machine: procstat.MachineCpu
    hub_threads: Mapping[str, float] = field(default_factory=dict)
    """the hub's CPU by thread name (`procstat.thread_cpu_seconds`), summed over its processes"""


class Measured:
    def __init__(self, hub_pids: list[int], broker_pids: list[int], postmaster_pid: int | None) -> None:
        """`broker_pids`: one Mosquitto, or every node of a cluster."""
        self.hub_pids = hub_pids
        self.broker_pids = broker_pids
        self.postmaster_pid = postmaster_pid
        self._db_pids: list[int] = []
        self._db_pids_at = -CHILDREN_EVERY_S
        self._db_cpu: dict[int, float] = {}
        """Last CPU seen per PostgreSQL process: a backend that exits keeps its share in the sum, which
        would otherwise drop by what it had used (and could make a window's difference negative)."""

    def snapshot(self) -> Snapshot:
        return Snapshot(
            time.monotonic(),
            time.time(),
            sum(procstat.cpu_seconds(pid) for pid in self.hub_pids),
            sum(procstat.cpu_seconds(pid) for pid in self.broker_pids),
            self._db_seconds(),
            procstat.machine_cpu(),
            self._hub_threads(),
        )

    def _hub_threads(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid in self.hub_pids:
            for name, cpu in procstat.thread_cpu_seconds(pid).items():
                out[name] = out.get(name, 0.0) + cpu
        return out

    def _db_seconds(self) -> float:
        seen = self._db_cpu
        for pid in self._db():
            cpu = procstat.cpu_seconds(pid)
            if cpu > seen.get(pid, 0.0):
                seen[pid] = cpu
        return sum(seen.values())

    def _db(self) -> list[int]:
        if self.postmaster_pid is None:
            return []
        now = time.monotonic()
        if now - self._db_pids_at >= CHILDREN_EVERY_S:
            self._db_pids = [self.postmaster_pid, *procstat.children(self.postmaster_pid)]
            self._db_pids_at = now
        return self._db_pids


class CpuSampler(threading.Thread):
    def __init__(self, snapshot: Callable[[], Snapshot], interval_s: float = 0.02) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self._snapshot = snapshot
        self._interval_s = interval_s
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._samples: list[Snapshot] = []

    def run(self) -> None:
        while not self._halt.is_set():
            snap = self._snapshot()
            with self._lock:
                self._samples.append(snap)
            self._halt.wait(self._interval_s)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(5)

    def at_wall(self, wall: float) -> Snapshot:
        """The counters at wall-clock time `wall`, linearly interpolated between the two samples
        around it (the first or last sample outside the sampled time)."""
        with self._lock:
            samples = list(self._samples)
        if not samples:
            raise RuntimeError("no CPU samples were taken")
        i = bisect_left([s.wall for s in samples], wall)
        if i == 0:
            return samples[0]
        if i == len(samples):
            return samples[-1]
        a, b = samples[i - 1], samples[i]
        f = (wall - a.wall) / (b.wall - a.wall) if b.wall > a.wall else 0.0
        return Snapshot(
            a.at + f * (b.at - a.at),
            wall,
            a.hub + f * (b.hub - a.hub),
            a.broker + f * (b.broker - a.broker),
            a.db + f * (b.db - a.db),
            a.machine,
            {
                **a.hub_threads,
                **{
                    k: a.hub_threads.get(k, 0.0) + f * (v - a.hub_threads.get(k, 0.0))
                    for k, v in b.hub_threads.items()
                },
            },
        )
