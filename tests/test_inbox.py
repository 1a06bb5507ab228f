"""The bounded queue between the MQTT client and the pipeline, moving lists: order kept, the bound
kept (a full queue blocks the client, which is how the broker comes to hold a backlog), and a batch
takes what is waiting."""

import threading
import time
from datetime import UTC, datetime

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
