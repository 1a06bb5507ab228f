"""Webhook subscriptions for case notifications: admins manage every one, integration accounts their
own. Another account's subscription looks the same as a missing one, except to admins."""

from typing import Any

import psycopg

from hub.domain.errors import NotFound
from hub.domain.roles import Role
from hub.domain.users import User
from hub.notify.webhook import new_secret
from hub.store import outbox
from hub.store import subscriptions as subscription_store


def create(
    conn: psycopg.Connection[Any],
    user: User,
    *,
    url: str,
    communities: list[str] | None,
    teams: list[str] | None,
    categories: list[str] | None,
    min_severity: str,
    max_attempts: int,
) -> dict[str, Any]:
    """The new subscription with its signing secret, which is shown this once."""
    secret = new_secret()
    subscription_id = subscription_store.create(
        conn,
        url=url,
        communities=communities,
        teams=teams,
        categories=categories,
        min_severity=min_severity,
        max_attempts=max_attempts,
        secret=secret,
        created_by=user.id,
    )
    created = _owned(conn, user, subscription_id)
    return {**created, "secret": secret, "deliveries": {"pending": 0, "delivered": 0, "dead": 0}}


def listed(conn: psycopg.Connection[Any], user: User) -> list[dict[str, Any]]:
    return subscription_store.list_subscriptions(conn, owner=None if user.role == Role.ADMIN else user.id)


def delete(conn: psycopg.Connection[Any], user: User, subscription_id: int) -> None:
    _owned(conn, user, subscription_id)
    subscription_store.delete(conn, subscription_id)


def deliveries(
    conn: psycopg.Connection[Any],
    user: User,
    subscription_id: int,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Newest first, with their payloads, so an integrator can see what their receiver was sent."""
    _owned(conn, user, subscription_id)
    return outbox.deliveries(conn, subscription_id, status=status, limit=limit, offset=offset)


def _owned(conn: psycopg.Connection[Any], user: User, subscription_id: int) -> dict[str, Any]:
    found = subscription_store.get(conn, subscription_id)
    if found is None or (user.role != Role.ADMIN and found["owner_id"] != user.id):
        raise NotFound(f"no subscription {subscription_id} of yours")
    return found
