"""Python's cyclic garbage collector, set for a process that holds many long-lived objects.

At the default thresholds a young collection runs every 700 allocations and a full one walks the whole
heap (the device registry, every device's rule state, the loaded modules) whenever enough objects
survived, which at 10,000 messages a second is several times a second: a third of the hub's CPU per
message in a drain (benchmark: 66 µs a message before, 42 after). Almost everything the hub builds per
message is freed by reference counting, not by the collector, so collecting less often costs little
memory: what was loaded at start-up is frozen out of the collector's walks, and a young collection
runs every `young` allocations.
"""

import gc


def tune(young: int) -> None:
    """Call once at start-up, after the long-lived state is loaded and before the threads start."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 100)
