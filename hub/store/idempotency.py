"""Idempotency keys: the first answer to a request sent with a key, kept for its retries."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def claim(conn: psycopg.Connection[Any], user_id: int, key: str, request: str) -> bool:
    """Take the key for this request; False when it was taken before. Inside the caller's transaction a
    concurrent claim of the same key waits here until the first one commits or rolls back."""
    row = conn.execute(
        "INSERT INTO idempotency_keys (user_id, key, request) VALUES (%s, %s, %s) "
        "ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
        (user_id, key, request),
    ).fetchone()
    return row is not None


def answered(conn: psycopg.Connection[Any], user_id: int, key: str) -> tuple[str, Any] | None:
    """(the request the key was taken for, its answer)."""
    row = conn.execute(
        "SELECT request, response FROM idempotency_keys WHERE user_id = %s AND key = %s", (user_id, key)
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])


def answer(conn: psycopg.Connection[Any], user_id: int, key: str, response: Any) -> None:
    conn.execute(
        "UPDATE idempotency_keys SET response = %s WHERE user_id = %s AND key = %s",
        (Jsonb(response), user_id, key),
    )


def delete_before(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    return conn.execute("DELETE FROM idempotency_keys WHERE created_at < %s", (cutoff,)).rowcount
