"""Helpers shared by the notification tests: cases written straight into the database (so the trigger,
not any case code, is what is under test), a real local webhook receiver, and fast test settings."""

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from hub.notify.drainer import Drainer
from hub.settings import Settings
from tests.support.services import free_port


def notify_settings(database_url: str, **overrides: Any) -> Settings:
    """Backoff in tens of milliseconds, so "down for a while" fits in a test."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "notify_poll_interval_ms": 20,
        "notify_backoff_base_s": 0.05,
        "notify_backoff_max_s": 0.2,
        "notify_timeout_s": 2.0,
        **overrides,
    }
    return Settings(**values)


def add_case(
    conn: psycopg.Connection[Any],
    community: str,
    *,
    team: str | None = "fire-safety",
    category: str = "fire",
    severity: str = "major",
) -> int:
    conn.execute(
        "INSERT INTO communities (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (community, community)
    )
    row = conn.execute(
        "INSERT INTO cases (title, category, severity, status, source, subject, community_id, team) "
        "VALUES (%s, %s, %s, 'new', 'operator', %s, %s, %s) RETURNING id",
        (f"{category} in {community}", category, severity, uuid.uuid4().hex, community, team),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_event(
    conn: psycopg.Connection[Any],
    case_id: int,
    action: str = "dispatched",
    from_status: str | None = "new",
    to_status: str | None = "dispatched",
) -> int:
    row = conn.execute(
        "INSERT INTO case_events (case_id, actor, action, from_status, to_status) "
        "VALUES (%s, 'test', %s, %s, %s) RETURNING id",
        (case_id, action, from_status, to_status),
    ).fetchone()
    assert row is not None
    return int(row[0])


def drain_until(drainer: Drainer, done: Callable[[], bool], *, timeout: float) -> int:
    """Drain batch after batch until `done()` holds; returns how many rows the drainer said it handled, so
    a test can hold that count against the rows it made as well as check the end state."""
    deadline = time.monotonic() + timeout
    handled = 0
    while True:
        batch = drainer.drain_once()
        handled += batch
        if done():
            return handled
        assert time.monotonic() < deadline, f"not done after {timeout}s; the drainer handled {handled} row(s)"
        if batch == 0:
            time.sleep(0.02)


def outbox_rows(conn: psycopg.Connection[Any], event_ids: list[int]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT case_event_id, channel, subscription_id, status, attempts, last_error FROM notification_outbox "
        "WHERE case_event_id = ANY(%s) ORDER BY id",
        (event_ids,),
    ).fetchall()


class Receiver:
    """A webhook receiver on 127.0.0.1 that can be down (not listening), failing (500) or slow."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay_s)
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    if not failing:
                        receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def event_ids(self) -> list[int]:
        with self._lock:
            return [int(headers["X-Hub-Event-Id"]) for headers, _ in self.requests]

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]
