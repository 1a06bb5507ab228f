"""Live device state waits `HUB_STATE_FLUSH_S` per device and is written a few devices at a time, in the
order they started waiting; a status message writes its device's row at once. Pure, on an injected
clock."""

from datetime import UTC, datetime

from hub.ingest.device_state import Seen, StateBuffer

T = datetime(2026, 12, 7, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _seen(device_id: str, seq: int) -> dict[str, Seen]:
    return {device_id: Seen(device_id, T, seq, T, {"battery_pct": 80.0, "rssi_dbm": -70}, None)}


def _written(
    buffer: StateBuffer, seen: dict[str, Seen] | None = None, urgent: set[str] | None = None
) -> dict[str, int | None]:
    """Plan and commit one transaction; the devices written and their sequence numbers."""
    flush = buffer.plan(seen or {}, urgent or set())
    buffer.committed(flush, seen or {})
    return {u.device_id: u.last_seq for u in flush.updates}


def test_a_device_waits_its_time_then_is_written_with_its_newest_reading() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    assert _written(buffer, _seen("a", 1)) == {}
    clock.now += 1.0
    assert _written(buffer, _seen("a", 2)) == {}
    assert not buffer.due()
    clock.now += 1.0
    assert buffer.due()
    assert _written(buffer) == {"a": 2}
    assert buffer.pending == {}


def test_devices_are_written_in_the_order_they_started_waiting_not_all_at_once() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    _written(buffer, _seen("a", 1))
    clock.now += 1.0
    _written(buffer, _seen("b", 1))
    clock.now += 1.5
    assert _written(buffer, _seen("c", 1)) == {"a": 1}
    clock.now += 1.0
    assert _written(buffer) == {"b": 1}
    assert set(buffer.pending) == {"c"}


def test_a_status_message_writes_its_devices_row_at_once() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    _written(buffer, _seen("a", 1) | _seen("b", 1))
    assert _written(buffer, _seen("a", 2), urgent={"a", "unknown"}) == {"a": 2}
    assert set(buffer.pending) == {"b"}


def test_a_failed_transaction_leaves_the_state_waiting() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    _written(buffer, _seen("a", 1))
    clock.now += 3.0
    first = buffer.plan({})
    assert [u.device_id for u in first.updates] == ["a"]
    assert [u.device_id for u in buffer.plan({}).updates] == ["a"], "nothing was committed"


def test_an_older_reading_does_not_replace_a_newer_one() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    _written(buffer, _seen("a", 5))
    clock.now += 3.0
    assert _written(buffer, _seen("a", 3)) == {"a": 5}


def test_at_shutdown_everything_is_written() -> None:
    clock = Clock()
    buffer = StateBuffer(2.0, clock)
    _written(buffer, _seen("a", 1) | _seen("b", 1))
    flush = buffer.plan({}, everything=True)
    buffer.committed(flush, {})
    assert sorted(u.device_id for u in flush.updates) == ["a", "b"]
    assert buffer.pending == {}


def test_without_a_delay_every_batch_writes_its_devices() -> None:
    buffer = StateBuffer(0.0, Clock())
    assert _written(buffer, _seen("a", 1)) == {"a": 1}
    assert buffer.pending == {}


def test_at_most_so_many_due_devices_a_batch_oldest_first_and_a_status_on_top() -> None:
    """A starting hub hears every device at once and they all fall due together: written a few at a
    time, oldest first, none dropped; a device with a status message still goes at once."""
    clock = Clock()
    buffer = StateBuffer(2.0, clock, most=2)
    for device_id in "abcde":
        _written(buffer, _seen(device_id, 1))
        clock.now += 0.1
    clock.now += 3.0
    assert _written(buffer, urgent={"e"}) == {"a": 1, "b": 1, "e": 1}
    assert _written(buffer) == {"c": 1, "d": 1}
    assert buffer.pending == {}
    assert not buffer.due()
