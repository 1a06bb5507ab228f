"""The interpreter's settings: a batch's worth of per-message objects triggers no garbage collection,
cyclic garbage is still collected, and the thread switch interval is the hub's."""

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from hub import runtime


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


def _collections() -> int:
    return sum(s["collections"] for s in gc.get_stats())


def _batch(n: int) -> list[dict[str, object]]:
    """About what the pipeline keeps alive per message while a batch is processed."""
    return [{"device_id": f"d{i}", "values": {"seq": i}, "row": [i, str(i)]} for i in range(n)]


def test_a_batch_of_2000_messages_runs_no_collection(restored: None) -> None:
    runtime.tune(50_000, 0.0005)
    assert gc.get_freeze_count() > 0
    assert sys.getswitchinterval() == 0.0005
    before = _collections()
    kept = _batch(2000)
    assert _collections() == before
    assert len(kept) == 2000


def test_at_pythons_default_thresholds_the_same_batch_collects(restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    before = _collections()
    _batch(2000)
    assert _collections() > before


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_cyclic_garbage_is_still_collected(restored: None) -> None:
    runtime.tune(1000, 0.0005)
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    _batch(1000)
    assert gone() is None
