"""The ingest threads' names as the operating system shows them (`top -H`, `ps -L`, /proc).

Python names its threads only for itself, so every thread of the hub reads as `python` outside it; a
named thread lets an operator, and the benchmark, see which one uses the CPU without a profiler."""

import ctypes
import functools
import sys

_PR_SET_NAME = 15
_MAX_BYTES = 15
"""The kernel keeps 16 bytes, the last one a NUL."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library the interpreter is linked with, found without a search (Linux only)."""
    return ctypes.CDLL(None) if sys.platform == "linux" else None


def name_os_thread(name: str) -> None:
    """Name the calling thread for the operating system, cut to 15 bytes; nothing where not Linux."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_NAME, name.encode()[:_MAX_BYTES], 0, 0, 0)
