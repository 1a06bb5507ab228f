"""The notification outbox: rows written by the case_events trigger (migration 0005), leased by drainers.

A claim commits at once and pushes `next_attempt_at` out by a lease, so no transaction stays open while
a receiver is slow, and a drainer that dies mid-delivery only delays its rows until the lease ends. The
attempt count doubles as a fencing token: a drainer whose lease ran out cannot overwrite the outcome of
the one that claimed the row after it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: int | None
    """None for a test notification, which no case event is behind"""
    channel: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    url: str | None
    secret: str | None


def claim_due(
    conn: psycopg.Connection[Any],
    *,
    channels: Sequence[str],
    limit: int,
    lease_s: float,
    mqtt_max_attempts: int,
) -> list[Claimed]:
    """SKIP LOCKED lets several drainers (threads or hub workers) claim disjoint rows without waiting."""
    rows = conn.execute(
        """
        WITH due AS (
            SELECT o.id, s.url, s.secret,
                   CASE WHEN o.case_event_id IS NULL THEN 1  -- a test is tried once: its outcome is the point
                        ELSE coalesce(s.max_attempts, %(mqtt_max_attempts)s) END AS max_attempts
            FROM notification_outbox o
            LEFT JOIN notification_subscriptions s ON s.id = o.subscription_id
            WHERE o.status = 'pending' AND o.next_attempt_at <= now() AND o.channel = ANY(%(channels)s)
            ORDER BY o.next_attempt_at, o.id
            LIMIT %(limit)s
            FOR UPDATE OF o SKIP LOCKED
        )
        UPDATE notification_outbox o
        SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease_s)s)
        FROM due
        WHERE o.id = due.id
        RETURNING o.id, o.case_event_id, o.channel, o.payload, o.attempts, due.max_attempts, due.url, due.secret
        """,
        {
            "channels": list(channels),
            "limit": limit,
            "lease_s": lease_s,
            "mqtt_max_attempts": mqtt_max_attempts,
        },
    ).fetchall()
    return sorted((Claimed(*r) for r in rows), key=lambda c: c.id)


def mark_delivered(conn: psycopg.Connection[Any], row: Claimed) -> None:
    conn.execute(
        "UPDATE notification_outbox SET status = 'delivered', delivered_at = now(), last_error = NULL "
        "WHERE id = %s AND attempts = %s AND status = 'pending'",
        (row.id, row.attempts),
    )


def mark_failed(conn: psycopg.Connection[Any], row: Claimed, error: str, retry_in_s: float | None) -> None:
    """`retry_in_s` None gives up: the row becomes `dead` and stays listed for its subscription."""
    conn.execute(
        "UPDATE notification_outbox SET status = %(status)s, last_error = %(error)s, "
        "next_attempt_at = now() + make_interval(secs => %(retry)s) "
        "WHERE id = %(id)s AND attempts = %(attempts)s AND status = 'pending'",
        {
            "status": "dead" if retry_in_s is None else "pending",
            "error": error[:500],
            "retry": retry_in_s or 0.0,
            "id": row.id,
            "attempts": row.attempts,
        },
    )


_DELIVERY = """
    SELECT id, case_event_id AS event_id, (payload ->> 'case_id')::bigint AS case_id, case_event_id IS NULL AS test,
           status, attempts, next_attempt_at, created_at, delivered_at, last_error, payload
    FROM notification_outbox
"""


def deliveries(
    conn: psycopg.Connection[Any], subscription_id: int, *, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _DELIVERY
            + """
            WHERE subscription_id = %(sub)s AND (%(status)s::text IS NULL OR status = %(status)s::text)
            ORDER BY id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"sub": subscription_id, "status": status, "limit": limit, "offset": offset},
        ).fetchall()


def delivery(conn: psycopg.Connection[Any], subscription_id: int, delivery_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _DELIVERY + "WHERE subscription_id = %s AND id = %s", (subscription_id, delivery_id)
        ).fetchone()


def enqueue_test(conn: psycopg.Connection[Any], subscription_id: int, payload: dict[str, Any]) -> int:
    """A test notification for one subscription, due at once."""
    row = conn.execute(
        "INSERT INTO notification_outbox (channel, subscription_id, payload) VALUES ('webhook', %s, %s) "
        "RETURNING id",
        (subscription_id, Jsonb(payload)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def retry_dead(conn: psycopg.Connection[Any], subscription_id: int, delivery_id: int) -> bool:
    """A dead delivery is due again with a fresh count of attempts; False if it is not dead."""
    return (
        conn.execute(
            "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_at = now() "
            "WHERE subscription_id = %s AND id = %s AND status = 'dead'",
            (subscription_id, delivery_id),
        ).rowcount
        == 1
    )


def waiting(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    """Pending and dead notifications per channel: the notification queue at a glance."""
    out: dict[str, dict[str, int]] = {c: {"pending": 0, "dead": 0} for c in ("webhook", "mqtt")}
    for channel, status, n in conn.execute(
        "SELECT channel, 'pending', count(*) FROM notification_outbox WHERE status = 'pending' GROUP BY 1 "
        "UNION ALL SELECT channel, 'dead', count(*) FROM notification_outbox WHERE status = 'dead' GROUP BY 1"
    ):
        out[channel][status] = int(n)
    return out


def delete_delivered_before(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    return conn.execute(
        "DELETE FROM notification_outbox WHERE status = 'delivered' AND delivered_at < %s", (cutoff,)
    ).rowcount
