"""Requests a client may retry: the glue between a route, its audit row and `hub.services.idempotency`.
A route hands over what it would do; with an Idempotency-Key the first answer is kept and a retry gets
it back without acting again, and the audit row says whether the answer was replayed."""

from collections.abc import Callable
from typing import Any

import psycopg
from pydantic import BaseModel

from hub.api.audit import Audit
from hub.domain.users import User
from hub.services import idempotency


def once(
    conn: psycopg.Connection[Any],
    user: User,
    key: str | None,
    request: str,
    body: BaseModel,
    audit: Audit,
    run: Callable[[], Any],
    out: type[BaseModel],
) -> dict[str, Any]:
    """`request` names the method and path, `body` is what was sent (its fingerprint: the same key with
    another body is refused, 422), `run` acts and returns what `out` reads, so the first answer and a
    replay are the same JSON."""
    answer = idempotency.once(
        conn,
        user,
        key,
        request,
        body.model_dump(mode="json"),
        lambda: out.model_validate(run()).model_dump(mode="json"),
    )
    if key is not None:
        audit.details["replayed"] = answer.replayed
    return answer.body
