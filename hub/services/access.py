"""A gate's access events, read in pages in the caller's community scope. Who may read them at all is
the API's role check; that every read is audited is the API's audit dependency."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.domain.users import User
from hub.services.scope import visible
from hub.store import access as access_store
from hub.store import devices as device_store


@dataclass(frozen=True)
class Page:
    community_id: str
    events: list[dict[str, Any]]
    """newest first"""
    next_after: tuple[datetime, int] | None
    """the (time, seq) the next page starts after; None on the last page"""


def page(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    device_id: str,
    *,
    start: datetime,
    end: datetime,
    result: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Page:
    """Events in [start, end) after the (time, seq) `after`; devices other than gates have none. The
    device and its scope come from `conn`, the primary; the events from `reads`, which may be a standby
    a replication lag behind."""
    device = visible(user, device_store.get_device(conn, device_id), f"device {device_id}")
    rows = access_store.page(reads, device_id, start, end, result=result, after=after, limit=limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(
        community_id=device["community_id"],
        events=rows[:limit],
        next_after=None if last is None else (last["time"], last["seq"]),
    )
