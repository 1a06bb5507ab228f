"""The interpreter set for the hub: a process that holds many long-lived objects and runs several busy
threads.

Python's cyclic garbage collector:
At the default thresholds a young collection runs every 700 allocations and a full one walks the whole
heap (the device registry, every device's rule state, the loaded modules) whenever enough objects
survived, which at 10,000 messages a second is several times a second: a third of the hub's CPU per
message in a drain (benchmark: 66 µs a message before, 42 after). Almost everything the hub builds per
message is freed by reference counting, not by the collector, so collecting less often costs little
memory: what was loaded at start-up is frozen out of the collector's walks, and a young collection
runs every `young` allocations.

The thread switch interval: a thread that waits for the GIL gets it after at most this long. At
Python's 5 ms, the ingest writer thread, back from PostgreSQL with the next rows to send, waited behind
the pipeline thread's decoding while the database sat idle; at 0.5 ms the hub's process runs at 85 % of
a core in a drain instead of 75 %.
"""

import gc
import sys


def tune(young: int, switch_interval_s: float) -> None:
    """Call once at start-up, after the long-lived state is loaded and before the threads start."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 100)
    sys.setswitchinterval(switch_interval_s)
