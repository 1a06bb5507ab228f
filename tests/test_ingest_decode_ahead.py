"""Under a backlog the pipeline decodes the next batch while PostgreSQL takes this one's rows; those
decodings are used only while the registry entry they were checked against is still in force. The
real pipeline on the real database."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.devices.service import decommission, register
from hub.ingest.inbound import Inbound, Inbox, collect
from tests.support.ingest import pipeline, smoke_inbound


def _backlog(device: str, n: int) -> tuple[Inbox, list[Inbound]]:
    start = datetime.now(UTC) - timedelta(seconds=n)
    sent = [smoke_inbound("ahead", device, seq, start + timedelta(seconds=seq)) for seq in range(1, n + 1)]
    inbox = Inbox(maxsize=0)
    inbox.put_many(sent)
    return inbox, sent


def _stored(conn: psycopg.Connection[Any], device: str) -> int:
    row = conn.execute("SELECT count(*) FROM telemetry_smoke WHERE device_id = %s", (device,)).fetchone()
    assert row is not None
    return int(row[0])


def test_under_a_backlog_the_next_batch_is_decoded_while_this_one_is_written(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": "ahead-1", "kind": "smoke_detector", "community": "ahead"}])
    inbox, sent = _backlog("ahead-1", 150)
    acked: list[int] = []
    p = pipeline(database_url, acked, inbox=inbox)

    p.process(collect(inbox, 50, 0.05))

    assert [m.mid for m in p._ahead] == list(range(51, 101)), (
        "the next batch, taken while this one was written"
    )
    assert all(m.decoded is not None and m.decoded.device.id == "ahead-1" for m in p._ahead)
    assert inbox.qsize() == 50
    ahead, p._ahead = p._ahead, []
    p.process(ahead)
    p.process(p._ahead or collect(inbox, 50, 0.05))
    assert sorted(acked) == [m.mid for m in sent]
    assert _stored(conn, "ahead-1") == 150


def test_without_a_backlog_nothing_is_taken_ahead(conn: psycopg.Connection[Any], database_url: str) -> None:
    register(conn, [{"id": "ahead-2", "kind": "smoke_detector", "community": "ahead"}])
    inbox, _ = _backlog("ahead-2", 70)
    p = pipeline(database_url, [], inbox=inbox)

    p.process(collect(inbox, 50, 0.05))

    assert p._ahead == []
    assert inbox.qsize() == 20


def test_a_device_retired_while_its_messages_were_decoded_ahead_is_refused(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    register(conn, [{"id": "ahead-3", "kind": "smoke_detector", "community": "ahead"}])
    inbox, _ = _backlog("ahead-3", 100)
    acked: list[int] = []
    p = pipeline(database_url, acked, inbox=inbox)
    p.process(collect(inbox, 50, 0.05))
    assert all(m.decoded is not None for m in p._ahead)

    decommission(conn, "ahead-3", datetime.now(UTC))
    time.sleep(1.1)  # the pipeline compares the registry's version at most once a second
    ahead, p._ahead = p._ahead, []
    p.process(ahead)

    assert _stored(conn, "ahead-3") == 50
    reasons = conn.execute(
        "SELECT DISTINCT reason FROM dead_letters WHERE topic LIKE 'sc/v1/ahead/%%/ahead-3/%%'"
    ).fetchall()
    assert len(reasons) == 1 and reasons[0][0].startswith("decommissioned")
    assert len(acked) == 100
