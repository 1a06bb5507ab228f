"""The case events a live stream reads, in id order, in the caller's community scope (and, for an
organisation's account, its organisation's cases)."""

from typing import Any

import psycopg

from hub.domain.users import User
from hub.store import case_feed


def latest_event_id(conn: psycopg.Connection[Any]) -> int:
    """Where a new stream starts: events from now on."""
    return case_feed.latest_event_id(conn)


def events_after(
    conn: psycopg.Connection[Any], user: User, *, after: int, skip: list[int], limit: int
) -> list[tuple[int, dict[str, Any] | None]]:
    """Every event after `after` but those in `skip`, each with a payload only where the caller may see
    it: the stream's cursor must step past the others too, knowing they are committed."""
    return case_feed.events_after(
        conn,
        after=after,
        skip=skip,
        communities=user.community_scope(),
        limit=limit,
        organisation=user.organisation,
    )
