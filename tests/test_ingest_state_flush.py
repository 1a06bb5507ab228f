"""Under steady load the devices' live state is written inside the batches' own transactions (by the
writer thread, alongside the rows), a bounded share each: a transaction of the pipeline's own between
batches would hold up the next batch's alerts. Only when no batch comes does the pipeline thread flush
what is due by itself. The real pipeline on the real database; the state writes are counted on their
way to it."""

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from hub.devices.service import register
from hub.ingest.inbound import Inbox
from hub.store import devices as device_store
from hub.store.devices import StateUpdate
from tests.support.ingest import pipeline, smoke_inbound
from tests.support.processes import poll

DEVICES = [f"flush-{i}" for i in range(10)]


def test_under_steady_load_state_is_written_by_the_batches_and_when_idle_by_itself(
    conn: psycopg.Connection[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(conn, [{"id": d, "kind": "smoke_detector", "community": "flush"} for d in DEVICES])
    writes: list[tuple[str, float, int]] = []
    record_seen = device_store.record_seen

    def counted(c: psycopg.Connection[Any], updates: Iterable[StateUpdate]) -> list[str]:
        ups = list(updates)
        if ups:
            writes.append((threading.current_thread().name, time.monotonic(), len(ups)))
        return record_seen(c, ups)

    monkeypatch.setattr(device_store, "record_seen", counted)
    inbox = Inbox(maxsize=0)
    # more devices fall due than a batch writes, so some are always due between batches
    p = pipeline(database_url, [], inbox=inbox, state_flush_s=0.2, state_flush_max_devices=2)
    stop = threading.Event()
    runner = threading.Thread(target=p.run, args=(stop,), name="pipeline", daemon=True)
    runner.start()
    try:
        seq = 0
        feeding_until = time.monotonic() + 2.5
        while time.monotonic() < feeding_until:
            seq += 1
            inbox.put_many([smoke_inbound("flush", d, seq, datetime.now(UTC)) for d in DEVICES])
            time.sleep(0.01)
        fed = time.monotonic()
        during = [w for w in writes if w[1] < fed]
        assert len(during) >= 5, "state should have been written many times while the readings came"
        assert all(size <= 2 for _, _, size in during), "a batch writes at most its share of due devices"
        assert {name for name, _, _ in during} == {"ingest-write_0"}, (
            "under load only the batches' writes carry state; the pipeline wrote some between batches"
        )
        # no more batches: what is still due is written by the pipeline on its own
        assert poll(lambda: any(name == "pipeline" for name, _, _ in writes), timeout=5), (
            "the due state of the last readings was not written once the batches stopped"
        )
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
