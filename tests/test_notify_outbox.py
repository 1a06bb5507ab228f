"""The outbox trigger and the webhook drainer against a real database and a real local HTTP receiver."""

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hub.notify.drainer import Drainer, backoff_s
from hub.notify.webhook import new_secret, sign
from hub.store import db
from hub.store import subscriptions as subscription_store
from tests.support.notify import Receiver, add_case, add_event, notify_settings, outbox_rows
from tests.support.processes import poll


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def subscribe(conn: psycopg.Connection[Any]) -> Iterator[Any]:
    """Subscriptions made through it are deleted afterwards, so no later test's drainer retries them."""
    made: list[int] = []

    def make(url: str, *, max_attempts: int = 10, **filters: Any) -> tuple[int, str]:
        secret = new_secret()
        sid = subscription_store.create(
            conn,
            url=url,
            communities=filters.get("communities"),
            teams=filters.get("teams"),
            categories=filters.get("categories"),
            min_severity=filters.get("min_severity", "info"),
            max_attempts=max_attempts,
            secret=secret,
            created_by=None,
        )
        made.append(sid)
        return sid, secret

    yield make
    for sid in made:
        subscription_store.delete(conn, sid)


def delivered(conn: psycopg.Connection[Any], subscription_id: int) -> Counter[str]:
    return Counter(
        r[0]
        for r in conn.execute(
            "SELECT status FROM notification_outbox WHERE subscription_id = %s", (subscription_id,)
        )
    )


def test_every_case_event_writes_its_notifications_in_the_same_transaction(
    database_url: str, conn: psycopg.Connection[Any], subscribe: Any
) -> None:
    mine, _ = subscribe("http://127.0.0.1:9/a", communities=["ntf-tx"])
    fire_only, _ = subscribe("http://127.0.0.1:9/b", communities=["ntf-tx"], categories=["flood"])
    critical_only, _ = subscribe("http://127.0.0.1:9/c", communities=["ntf-tx"], min_severity="critical")
    elsewhere, _ = subscribe("http://127.0.0.1:9/d", communities=["ntf-other"])
    with db.connect(database_url) as tx:
        case_id = add_case(tx, "ntf-tx", severity="major")
        opened = add_event(tx, case_id, "opened", None, "new")
        dispatched = add_event(tx, case_id)
        inside = outbox_rows(tx, [opened, dispatched])
        with psycopg.connect(database_url) as other:
            assert outbox_rows(other, [opened, dispatched]) == [], "nothing is visible before commit"
        tx.commit()
    assert [(r[0], r[1], r[2]) for r in inside] == [
        (opened, "webhook", mine),
        (opened, "mqtt", None),
        (dispatched, "webhook", mine),
        (dispatched, "mqtt", None),
    ]
    assert {fire_only, critical_only, elsewhere}.isdisjoint(r[2] for r in inside)
    row = conn.execute(
        "SELECT payload FROM notification_outbox WHERE case_event_id = %s AND channel = 'webhook'",
        (dispatched,),
    ).fetchone()
    assert row is not None
    payload = row[0]
    assert payload.pop("at").endswith("Z")
    stored = conn.execute(
        "SELECT building, grid, device_id, ack_due_at, resolve_due_at FROM cases WHERE id = %s", (case_id,)
    ).fetchone()
    assert stored is not None and (stored[3], stored[4]) == (None, None)
    assert payload == {
        "event_id": dispatched,
        "case_id": case_id,
        "action": "dispatched",
        "from_status": "new",
        "to_status": "dispatched",
        "community": "ntf-tx",
        "team": "fire-safety",
        "category": "fire",
        "severity": "major",
        "title": "fire in ntf-tx",
        "organisation": None,
        "place": {"building": stored[0], "grid": stored[1], "device_id": stored[2]},
        "deadlines": {"ack_due_at": None, "resolve_due_at": None},
        "call": None,
        "links": {"case": f"/api/v1/cases/{case_id}", "evidence": []},
    }

    with db.connect(database_url) as tx:
        rolled_back = add_event(tx, case_id, "acknowledged", "dispatched", "acknowledged")
        assert len(outbox_rows(tx, [rolled_back])) == 2
        tx.rollback()
    assert outbox_rows(conn, [rolled_back]) == []


def test_a_case_without_team_gets_no_mqtt_row(conn: psycopg.Connection[Any]) -> None:
    event = add_event(conn, add_case(conn, "ntf-noteam", team=None), "opened", None, "new")
    assert "mqtt" not in [r[1] for r in outbox_rows(conn, [event])]


def test_signed_webhook_arrives_with_a_valid_hmac(
    database_url: str, conn: psycopg.Connection[Any], receiver: Receiver, subscribe: Any
) -> None:
    receiver.start()
    sid, secret = subscribe(receiver.url, communities=["ntf-sig"])
    event = add_event(conn, add_case(conn, "ntf-sig"))
    settings = notify_settings(database_url)
    with db.make_pool(database_url) as pool:
        drainer = Drainer(pool, settings, publisher=None)
        assert poll(lambda: drainer.drain_once() == 0 and delivered(conn, sid)["delivered"] == 1, timeout=10)
        drainer.close()
    ((headers, body),) = receiver.requests
    assert headers["X-Hub-Event-Id"] == str(event)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Hub-Signature"] == sign(secret, headers["X-Hub-Timestamp"], body)
    assert headers["X-Hub-Signature"] != sign("wrong-secret", headers["X-Hub-Timestamp"], body)
    assert json.loads(body)["event_id"] == event


def test_receiver_down_for_a_while_then_back_loses_nothing(
    database_url: str, conn: psycopg.Connection[Any], receiver: Receiver, subscribe: Any
) -> None:
    sid, _ = subscribe(receiver.url, communities=["ntf-down"])
    case_id = add_case(conn, "ntf-down")
    events = [add_event(conn, case_id, f"note-{i}", None, None) for i in range(6)]
    stop = threading.Event()
    with db.make_pool(database_url) as pool:
        drainer = Drainer(pool, notify_settings(database_url), publisher=None)
        worker = threading.Thread(target=drainer.run, args=(stop,))
        worker.start()
        try:

            def attempted_twice() -> bool:
                return all(r[4] >= 2 for r in outbox_rows(conn, events) if r[1] == "webhook")

            assert poll(attempted_twice, timeout=10), "not listening: every row is retried"
            assert delivered(conn, sid) == {"pending": 6}
            receiver.fail_next = 4
            receiver.start()
            assert poll(lambda: delivered(conn, sid) == {"delivered": 6}, timeout=15)
        finally:
            stop.set()
            worker.join()
            drainer.close()
    assert sorted(set(receiver.event_ids())) == events, "after deduplication by event id: each exactly once"
    assert receiver.fail_next == 0
    errors = {r[5] for r in outbox_rows(conn, events) if r[1] == "webhook"}
    assert errors == {None}


def test_two_drainers_deliver_each_notification_once(
    database_url: str, conn: psycopg.Connection[Any], receiver: Receiver, subscribe: Any
) -> None:
    receiver.start()
    receiver.delay_s = 0.01
    sid, _ = subscribe(receiver.url, communities=["ntf-pair"])
    case_id = add_case(conn, "ntf-pair")
    events = [add_event(conn, case_id, f"note-{i}", None, None) for i in range(40)]
    settings = notify_settings(database_url, notify_batch_size=4, notify_concurrency=2)
    handled = Counter[str]()
    with db.make_pool(database_url, max_size=4) as pool:
        drainers = {name: Drainer(pool, settings, publisher=None) for name in ("a", "b")}
        start = threading.Barrier(2)

        def drain(name: str) -> None:
            start.wait()
            while delivered(conn, sid)["delivered"] < 40:
                handled[name] += drainers[name].drain_once()

        threads = [threading.Thread(target=drain, args=(name,)) for name in drainers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for d in drainers.values():
            d.close()
    assert Counter(receiver.event_ids()) == Counter(events), "each notification arrived exactly once"
    assert handled["a"] > 0 and handled["b"] > 0, f"both drainers worked: {handled}"


def test_backoff_doubles_with_jitter_up_to_the_ceiling() -> None:
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0), (500, 60.0)):
        delays = [backoff_s(attempt, 2.0, 60.0) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1, "jittered"
