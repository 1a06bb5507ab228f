"""Reading case events in id order for the SSE stream, scoped to the caller's communities in the query."""

from typing import Any

import psycopg


def latest_event_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM case_events").fetchone()
    return 0 if row is None else int(row[0])


def events_after(
    conn: psycopg.Connection[Any],
    *,
    after: int,
    skip: list[int],
    communities: list[str] | None,
    limit: int,
    organisation: str | None = None,
) -> list[tuple[int, dict[str, Any] | None]]:
    """Every event after `after` (except `skip`), with a payload only where the caller may see it: an
    event outside the scope is then known to exist, not mistaken for a transaction still in flight. An
    `organisation`'s account sees the cases of its teams and those calling on it."""
    rows = conn.execute(
        """
        SELECT e.id,
               CASE WHEN (%(communities)s::text[] IS NULL OR c.community_id = ANY(%(communities)s::text[]))
                         AND (%(organisation)s::text IS NULL
                              OR c.team IN (SELECT t.id FROM teams t WHERE t.organisation = %(organisation)s::text)
                              OR c.id IN (SELECT k.case_id FROM case_calls k
                                          WHERE k.organisation = %(organisation)s::text))
                    THEN notify_case_event_payload(e) END
        FROM case_events e
        JOIN cases c ON c.id = e.case_id
        WHERE e.id > %(after)s AND e.id <> ALL(%(skip)s::bigint[])
        ORDER BY e.id
        LIMIT %(limit)s
        """,
        {
            "communities": communities,
            "organisation": organisation,
            "after": after,
            "skip": skip,
            "limit": limit,
        },
    ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]
