"""The drain benchmark opens its CPU window at a moment known only afterwards: the sampler's counters
at that moment are interpolated between the samples around it."""

import time

from bench import procstat
from bench.ingest import by_thread
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


def test_the_hub_cpu_by_thread_is_interpolated_and_reported_a_message() -> None:
    def snap(i: int, threads: dict[str, float]) -> Snapshot:
        return Snapshot(float(i), 1000.0 + i, 0.0, 0.0, 0.0, MACHINE, threads)

    samples = iter(
        [
            snap(0, {"ingest-pipeline": 0.0, "python": 1.0}),
            snap(1, {"ingest-pipeline": 1.0, "python": 1.0}),
            snap(2, {"ingest-pipeline": 2.0, "python": 1.5, "ingest-writer": 0.4}),
        ]
        + [snap(3, {"ingest-pipeline": 3.0, "python": 1.5, "ingest-writer": 0.8})] * 1000
    )
    sampler = CpuSampler(lambda: next(samples), interval_s=0.001)
    sampler.start()
    time.sleep(0.05)
    sampler.stop()
    opened = sampler.at_wall(1001.5)
    assert opened.hub_threads == {"ingest-pipeline": 1.5, "python": 1.25, "ingest-writer": 0.2}
    final = sampler.at_wall(1003.0)
    per_msg = 1e6 / 100_000
    assert by_thread(opened, final, per_msg) == {"ingest-pipeline": 15.0, "ingest-writer": 6.0, "python": 2.5}
    gone = snap(4, {"ingest-pipeline": 3.0})
    assert by_thread(opened, gone, per_msg) == {"ingest-pipeline": 15.0}
