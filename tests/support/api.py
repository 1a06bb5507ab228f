"""The hub's API in-process (FastAPI's TestClient, real database) and the calls many test modules make
through it, so each module states only what its app and its people are."""

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import httpx
import psycopg
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.ingest.metrics import IngestMetrics
from hub.settings import Settings
from hub.store import db
from hub.store.users import upsert_user

API = "/api/v1"
PASSWORD = "pw"


@contextmanager
def app_client(
    database_url: str,
    *,
    routing: str | None = None,
    users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    metrics: IngestMetrics | None = None,
    **settings: Any,
) -> Iterator[TestClient]:
    """The app as `hub run` serves it, on a pool of its own, with the module's Settings overrides.
    `routing` is the text of its routing file; `users` (name → role, communities) are created first, all
    with PASSWORD; `metrics` stands for a running ingest's."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, (role, communities) in (users or {}).items():
            upsert_user(conn, name, PASSWORD, role, list(communities))
    with tempfile.TemporaryDirectory(prefix="hub-app-") as workdir:
        if routing is not None:
            routing_file = Path(workdir) / "routing.yaml"
            routing_file.write_text(routing)
            settings["routing_file"] = routing_file
        pool = db.make_pool(database_url)
        try:
            config = Settings(database_url=database_url, environment="test", **settings)
            with TestClient(create_app(config, pool, metrics=metrics)) as client:
                yield client
        finally:
            pool.close()


_sessions: WeakKeyDictionary[TestClient, dict[str, dict[str, str]]] = WeakKeyDictionary()


def login(client: TestClient, user: str, password: str = PASSWORD) -> dict[str, str]:
    """The bearer headers of `user`, logged in once per client: every log-in costs a password hash."""
    sessions = _sessions.setdefault(client, {})
    if user not in sessions:
        r = client.post(f"{API}/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        sessions[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return sessions[user]


def act(client: TestClient, user: str, case_id: int, action: str, **fields: Any) -> httpx.Response:
    """A case action as `user` takes it from the dashboard; the caller checks the answer."""
    response: httpx.Response = client.post(
        f"{API}/cases/{case_id}/actions", json={"action": action, **fields}, headers=login(client, user)
    )
    return response
