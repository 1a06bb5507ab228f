"""The bounded queue between the MQTT client and the pipeline, moving lists: order kept, the bound
kept (a full queue blocks the client, which is how the broker comes to hold a backlog), and a batch
takes what is waiting."""

import threading
import time
from datetime import UTC, datetime, timedelta

from hub.ingest.inbound import Inbound, Inbox, collect

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _messages(n: int, start: int = 0) -> list[Inbound]:
    return [Inbound(f"t/{i}", b"{}", i % 65535 + 1, 1, AT) for i in range(start, start + n)]


def test_a_list_goes_in_and_comes_out_in_order() -> None:
    inbox = Inbox(maxsize=100)
    sent = _messages(30)
    inbox.put_many(sent[:10])
    inbox.put(sent[10])
    inbox.put_many(sent[11:])
    assert inbox.take(5) == sent[:5]
    assert collect(inbox, 100, 0.01) == sent[5:]
    assert inbox.take(5) == []


def test_put_many_blocks_while_full_and_keeps_the_bound() -> None:
    inbox = Inbox(maxsize=10)
    sent = _messages(25)
    done = threading.Event()

    def client() -> None:
        inbox.put_many(sent)
        done.set()

    threading.Thread(target=client, daemon=True).start()
    time.sleep(0.2)
    assert not done.is_set() and inbox.qsize() == 10
    got: list[Inbound] = []
    deadline = time.monotonic() + 5
    while len(got) < len(sent) and time.monotonic() < deadline:
        got += inbox.take(4)
        assert inbox.qsize() <= 10
        time.sleep(0.01)
    assert done.wait(5)
    assert got == sent


def test_a_batch_is_bounded_by_rows() -> None:
    inbox = Inbox(maxsize=0)
    inbox.put_many(_messages(50))
    assert len(collect(inbox, 20, 0.5)) == 20
    assert len(collect(inbox, 100, 0.01)) == 30


def test_a_message_that_waited_in_the_queue_does_not_wait_again() -> None:
    inbox = Inbox(maxsize=0)
    inbox.put(Inbound("t/old", b"{}", 1, 1, datetime.now(UTC) - timedelta(seconds=1)))
    started = time.monotonic()
    assert len(collect(inbox, 100, 0.5)) == 1
    assert time.monotonic() - started < 0.25, "its delay was used up while it waited"


def test_a_fresh_message_waits_for_more_within_the_delay() -> None:
    inbox = Inbox(maxsize=0)
    inbox.put(Inbound("t/1", b"{}", 1, 1, datetime.now(UTC)))
    later = threading.Timer(0.05, lambda: inbox.put(Inbound("t/2", b"{}", 2, 1, datetime.now(UTC))))
    later.start()
    try:
        assert [m.topic for m in collect(inbox, 100, 0.4)] == ["t/1", "t/2"]
    finally:
        later.join()
