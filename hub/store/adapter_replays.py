"""Requests to replay an adapter's dead letters, and the dead letters they replay."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class Refusal:
    id: int
    received_at: datetime
    topic: str
    client_id: str | None
    payload: bytes


def request(conn: psycopg.Connection[Any], adapter: str, requested_by: str) -> int:
    row = conn.execute(
        "INSERT INTO adapter_replays (adapter, requested_by) VALUES (%s, %s) RETURNING id",
        (adapter, requested_by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def get(conn: psycopg.Connection[Any], replay_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, adapter, requested_by, requested_at, started_at, done_at, replayed, error "
            "FROM adapter_replays WHERE id = %s",
            (replay_id,),
        ).fetchone()


def take(conn: psycopg.Connection[Any]) -> tuple[int, str] | None:
    """The oldest request nobody has started, marked started; in the caller's transaction."""
    row = conn.execute(
        "UPDATE adapter_replays SET started_at = now() WHERE id = ("
        "SELECT id FROM adapter_replays WHERE started_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1"
        ") RETURNING id, adapter"
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def finish(conn: psycopg.Connection[Any], replay_id: int, replayed: int, error: str | None) -> None:
    conn.execute(
        "UPDATE adapter_replays SET done_at = now(), replayed = %s, error = %s WHERE id = %s",
        (replayed, error, replay_id),
    )


def last_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM dead_letters").fetchone()
    return int(row[0]) if row else 0


def refusals(
    conn: psycopg.Connection[Any], adapter: str, after: int, up_to: int, limit: int
) -> list[Refusal]:
    """The adapter's dead letters in `(after, up_to]` not replayed yet, oldest first, each with its whole
    vendor payload; `up_to` keeps a replay from taking the refusals it writes itself."""
    rows = conn.execute(
        "SELECT id, received_at, topic, client_id, payload FROM dead_letters "
        "WHERE adapter = %s AND replayed_at IS NULL AND payload IS NOT NULL AND id > %s AND id <= %s "
        "ORDER BY id LIMIT %s",
        (adapter, after, up_to, limit),
    ).fetchall()
    return [Refusal(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


def mark_replayed(conn: psycopg.Connection[Any], ids: list[int], at: datetime) -> None:
    conn.execute("UPDATE dead_letters SET replayed_at = %s WHERE id = ANY(%s::bigint[])", (at, ids))
