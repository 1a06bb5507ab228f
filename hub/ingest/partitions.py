"""How the stream is split between hub workers. Pure functions, no I/O.

A partition is a set of communities (by a stable hash of the community id). Every rule's state lives
within one community (a device, or a building, grid or community group), so a worker that holds a
partition holds everything its rules need, and no state is shared between workers.
"""

import zlib
from collections.abc import Mapping

from hub.domain.devices import DeviceRef


def partition_of(community: str, count: int) -> int:
    return zlib.crc32(community.encode()) % count


def fair_share(count: int, workers: int) -> int:
    """The most partitions one worker should hold when `workers` share `count` of them."""
    return -(-count // max(workers, 1))


def subject_community(subject: str, registry: Mapping[str, DeviceRef]) -> str | None:
    """The community of a rule-state subject: a device id, or a group such as `building:c1/b3`."""
    device = registry.get(subject)
    if device is not None:
        return device.community
    kind, sep, place = subject.partition(":")
    if not sep or kind not in ("building", "grid", "community"):
        return None
    return place.split("/", 1)[0]
