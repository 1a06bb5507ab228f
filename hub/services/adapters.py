"""Replays of an adapter's dead letters, as admins ask for them and follow them."""

from typing import Any

import psycopg

from hub.domain.errors import NotFound
from hub.domain.users import User
from hub.store import adapter_replays as store


def request_replay(conn: psycopg.Connection[Any], user: User, adapter: str) -> dict[str, Any]:
    """Queued for the worker serving ingest partition 0, which takes it within seconds."""
    replay_id = store.request(conn, adapter, user.username)
    found = store.get(conn, replay_id)
    assert found is not None
    return found


def replay(conn: psycopg.Connection[Any], replay_id: int) -> dict[str, Any]:
    found = store.get(conn, replay_id)
    if found is None:
        raise NotFound(f"no replay {replay_id}")
    return found
