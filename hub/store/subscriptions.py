"""Webhook subscriptions: where case notifications go and which cases they are about."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

_COLUMNS = (
    "s.id, s.url, s.communities, s.teams, s.categories, s.min_severity, s.max_attempts, s.created_at, "
    "u.username AS created_by"
)


def create(
    conn: psycopg.Connection[Any],
    *,
    url: str,
    communities: list[str] | None,
    teams: list[str] | None,
    categories: list[str] | None,
    min_severity: str,
    max_attempts: int,
    secret: str,
    created_by: int | None,
) -> int:
    row = conn.execute(
        "INSERT INTO notification_subscriptions "
        "(url, communities, teams, categories, min_severity, max_attempts, secret, created_by) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (url, communities, teams, categories, min_severity, max_attempts, secret, created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_subscriptions(conn: psycopg.Connection[Any], *, owner: int | None) -> list[dict[str, Any]]:
    """`owner` None lists everyone's; delivery counts and the latest failure show a receiver in trouble
    at a glance."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            SELECT {_COLUMNS},
                   jsonb_build_object('pending', count(o.id) FILTER (WHERE o.status = 'pending'),
                                      'delivered', count(o.id) FILTER (WHERE o.status = 'delivered'),
                                      'dead', count(o.id) FILTER (WHERE o.status = 'dead')) AS deliveries,
                   (SELECT jsonb_build_object('delivery_id', f.id, 'status', f.status, 'error', f.last_error)
                    FROM notification_outbox f
                    WHERE f.subscription_id = s.id AND f.last_error IS NOT NULL
                    ORDER BY f.id DESC LIMIT 1) AS last_error
            FROM notification_subscriptions s
            LEFT JOIN users u ON u.id = s.created_by
            LEFT JOIN notification_outbox o ON o.subscription_id = s.id
            WHERE %(owner)s::bigint IS NULL OR s.created_by = %(owner)s::bigint
            GROUP BY s.id, u.username
            ORDER BY s.id
            """,  # noqa: S608 - the interpolated text is a constant
            {"owner": owner},
        ).fetchall()


def get(conn: psycopg.Connection[Any], subscription_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS}, s.created_by AS owner_id FROM notification_subscriptions s "  # noqa: S608 - constant
            "LEFT JOIN users u ON u.id = s.created_by WHERE s.id = %s",
            (subscription_id,),
        ).fetchone()


def delete(conn: psycopg.Connection[Any], subscription_id: int) -> None:
    """Its outbox rows go with it: nothing is sent to a receiver after it was unsubscribed."""
    conn.execute("DELETE FROM notification_subscriptions WHERE id = %s", (subscription_id,))
