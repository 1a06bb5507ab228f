"""The audit log: writing a request's row, and the admin's reading of it."""

from datetime import datetime
from typing import Any

import psycopg

from hub.domain.users import User
from hub.store import audit as audit_store
from hub.store.audit import Filters as Filters


def record(
    conn: psycopg.Connection[Any],
    *,
    actor: User,
    action: str,
    target_type: str,
    target_id: str | None,
    community: str | None,
    outcome: int,
    client_addr: str | None,
    details: dict[str, Any],
) -> None:
    """Without a `community` the target's own is looked up: a manager probing another community's
    records is exactly what the log must show."""
    audit_store.record(
        conn,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        community=community or audit_store.community_of(conn, target_type, target_id),
        outcome=outcome,
        client_addr=client_addr,
        details=details,
    )


def entries(
    conn: psycopg.Connection[Any], filters: Filters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (time, id) of the last row of the previous page."""
    return audit_store.list_entries(conn, filters, after=after, limit=limit)
