"""The drain benchmark opens its CPU window at a moment known only afterwards: the sampler's counters
at that moment are interpolated between the samples around it."""

import time

from bench import procstat
from bench.sampler import CpuSampler, Snapshot

MACHINE = procstat.MachineCpu(0, 0)


def test_counters_are_interpolated_at_a_wall_clock_moment() -> None:
    ticks = iter(range(1000))

    def snapshot() -> Snapshot:
        i = next(ticks)
        return Snapshot(at=float(i), wall=1000.0 + i, hub=2.0 * i, broker=0.0, db=10.0 * i, machine=MACHINE)

    sampler = CpuSampler(snapshot, interval_s=0.001)
    sampler.start()
    time.sleep(0.05)
    sampler.stop()
    mid = sampler.at_wall(1002.25)
    assert (mid.hub, mid.db, mid.wall) == (4.5, 22.5, 1002.25)
    assert sampler.at_wall(0.0).hub == 0.0
    assert sampler.at_wall(1e9).hub >= 4.5
