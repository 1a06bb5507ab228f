"""Requests that may be retried safely: a request sent with an `Idempotency-Key` is acted on once, and a
retry with the same key gets the first answer back without acting again — the answer a client lost to
a dropped connection, not the case as it is now.

The key is taken in the same transaction as the action, so an action refused (and rolled back) frees
its key, and two concurrent requests with one key serialize: the second waits for the first and then
replays it. Keys are per account; one reused for a different request is refused (422)."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from hub.domain.errors import Invalid
from hub.domain.users import User
from hub.store import idempotency as key_store

MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    replayed: bool


def once(
    conn: psycopg.Connection[Any],
    user: User,
    key: str | None,
    request: str,
    payload: dict[str, Any],
    run: Callable[[], dict[str, Any]],
) -> Answer:
    """`request` names what is asked (method and path), `payload` the body; `run` acts and returns the
    answer as the client receives it (JSON values), so a replay is the same bytes."""
    if key is None:
        return Answer(run(), replayed=False)
    if not key.strip() or len(key) > MAX_KEY_CHARS:
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters, e.g. a UUID per request")
    fingerprint = f"{request} {hashlib.sha256(_json(payload).encode()).hexdigest()}"
    with conn.transaction():
        if not key_store.claim(conn, user.id, key, fingerprint):
            found = key_store.answered(conn, user.id, key)
            if found is None or found[0] != fingerprint or found[1] is None:
                raise Invalid(
                    f"Idempotency-Key {key} was used for a different request; send a new key for a new request"
                )
            return Answer(found[1], replayed=True)
        body = run()
        key_store.answer(conn, user.id, key, body)
        return Answer(body, replayed=False)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
