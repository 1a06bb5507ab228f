"""The SSE stream through a real HTTP server (uvicorn in a thread), as a browser's EventSource reads it."""

import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from hub.api.app import create_app
from hub.api.routes import events
from hub.notify.cursor import EventCursor
from hub.settings import Settings
from hub.store import db
from hub.store.users import upsert_user
from tests.support.notify import add_case, add_event
from tests.support.processes import poll
from tests.support.services import free_port

STREAM = "/api/v1/events/stream"


@pytest.fixture(scope="module")
def api(database_url: str) -> Iterator[str]:
    pool = db.make_pool(database_url)
    with pool.connection() as conn:
        upsert_user(conn, "sse-op", "pw", "operator")
        upsert_user(conn, "sse-mgr-a", "pw", "manager", ["sse-a"])
        upsert_user(conn, "sse-mgr-b", "pw", "manager", ["sse-b"])
    app = create_app(Settings(database_url=database_url, environment="test"), pool)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert poll(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    pool.close()


def token(api: str, user: str) -> str:
    r = httpx.post(f"{api}/api/v1/auth/login", json={"username": user, "password": "pw"})
    r.raise_for_status()
    return str(r.json()["access_token"])


class Stream:
    """Reads the stream in a thread; `open` returns once the server answered, so the stream is live."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()
        self._ready = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=30))
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stream did not answer"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith("retry:"):
                        self._ready.set()
                    elif line == "" and "data" in fields:
                        self.events.put(
                            {"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])}
                        )
                        fields = {}
                    elif ":" in line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.strip()
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()
            self._ready.set()

    def next(self, timeout: float) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def streams() -> Iterator[list[Stream]]:
    opened: list[Stream] = []
    yield opened
    for s in opened:
        s.close()


def test_a_new_case_event_arrives_within_a_second_and_the_stream_resumes_from_last_event_id(
    api: str, conn: psycopg.Connection[Any], streams: list[Stream]
) -> None:
    url = f"{api}{STREAM}?access_token={token(api, 'sse-op')}"
    first = Stream(url)
    streams.append(first)
    assert first.status == 200
    case_id = add_case(conn, "sse-a")
    sent = time.monotonic()
    opened = add_event(conn, case_id, "opened", None, "new")
    got = first.next(timeout=1.0)
    assert time.monotonic() - sent < 1.0
    assert (got["id"], got["event"], got["event_id"], got["case_id"], got["action"]) == (
        opened,
        "case_event",
        opened,
        case_id,
        "opened",
    )
    assert got["community"] == "sse-a" and got["to_status"] == "new"
    first.close()

    missed = [
        add_event(conn, case_id),
        add_event(conn, case_id, "acknowledged", "dispatched", "acknowledged"),
    ]
    resumed = Stream(url, headers={"Last-Event-ID": str(opened)})
    streams.append(resumed)
    assert [resumed.next(timeout=2)["id"] for _ in missed] == missed
    later = add_event(conn, case_id, "in_progress", "acknowledged", "in_progress")
    assert resumed.next(timeout=1.0)["id"] == later


def test_a_manager_sees_only_the_events_of_their_communities(
    api: str, conn: psycopg.Connection[Any], streams: list[Stream]
) -> None:
    a = Stream(f"{api}{STREAM}", headers={"Authorization": f"Bearer {token(api, 'sse-mgr-a')}"})
    b = Stream(f"{api}{STREAM}?access_token={token(api, 'sse-mgr-b')}")
    streams.extend((a, b))
    in_a = add_event(conn, add_case(conn, "sse-a"), "opened", None, "new")
    in_b = add_event(conn, add_case(conn, "sse-b"), "opened", None, "new")
    assert a.next(timeout=1.0)["id"] == in_a
    assert b.next(timeout=1.0)["id"] == in_b, "b's first event is its own: a's never reached it"
    time.sleep(0.3)
    assert a.events.empty() and b.events.empty()


def test_a_revoked_session_ends_the_stream(
    api: str, conn: psycopg.Connection[Any], streams: list[Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "REAUTH_S", 0.2)
    monkeypatch.setattr(events, "RECHECK_S", 0.2)
    resident = token(api, "sse-mgr-a")
    stream = Stream(f"{api}{STREAM}?access_token={resident}")
    streams.append(stream)
    conn.execute("DELETE FROM sessions WHERE token_hash = %s", (hashlib.sha256(resident.encode()).digest(),))
    assert stream.ended.wait(3), "the stream must end once its session is gone"
    assert httpx.get(f"{api}{STREAM}?access_token={resident}").status_code == 401


def test_the_stream_needs_a_valid_token(api: str) -> None:
    assert httpx.get(f"{api}{STREAM}").status_code == 401
    refused = httpx.get(f"{api}{STREAM}?access_token=forged")
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]
    assert httpx.get(f"{api}/api/v1/cases?access_token={token(api, 'sse-op')}").status_code == 401


def test_an_event_committed_after_a_higher_id_still_reaches_the_stream(
    api: str, database_url: str, conn: psycopg.Connection[Any], streams: list[Stream]
) -> None:
    stream = Stream(f"{api}{STREAM}?access_token={token(api, 'sse-op')}")
    streams.append(stream)
    case_id = add_case(conn, "sse-a")
    with db.connect(database_url) as slow:
        lower = add_event(slow, case_id, "slow", None, None)
        higher = add_event(conn, case_id, "fast", None, None)
        assert stream.next(timeout=1.0)["id"] == higher
        slow.commit()
    assert stream.next(timeout=1.0)["id"] == lower


def test_the_cursor_waits_for_a_missing_id_then_moves_past_it() -> None:
    cursor = EventCursor(after=10, grace_s=5)
    cursor.advance([11, 13], now=100.0)
    assert (cursor.after, cursor.handled_above) == (11, [13])
    cursor.advance([], now=104.0)
    assert cursor.after == 11, "12 may still be in an open transaction"
    cursor.advance([12], now=104.5)
    assert (cursor.after, cursor.handled_above) == (13, [])
    cursor.advance([15], now=110.0)
    cursor.advance([], now=115.0)
    assert (cursor.after, cursor.handled_above) == (15, []), "14 never came: rolled back"
