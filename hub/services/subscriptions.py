"""Webhook subscriptions for case notifications: admins manage every one, integration accounts their
own. Another account's subscription looks the same as a missing one, except to admins. A test
notification checks a receiver end to end; a dead delivery can be tried again."""

from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.domain.errors import Conflict, Invalid, NotFound
from hub.domain.roles import Role
from hub.domain.users import User
from hub.notify.webhook import new_secret
from hub.store import organisations as org_store
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
    """The new subscription with its signing secret, which is shown this once. An organisation's
    account subscribes to its own teams' cases only: without `teams` to all of them, with `teams` to
    those of them it names (422 for another's)."""
    if user.organisation is not None:
        communities, teams = _organisation_filter(conn, user.organisation, communities, teams)
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
    return {
        **created,
        "secret": secret,
        "deliveries": {"pending": 0, "delivered": 0, "dead": 0},
        "last_error": None,
    }


def _organisation_filter(
    conn: psycopg.Connection[Any], organisation: str, communities: list[str] | None, teams: list[str] | None
) -> tuple[list[str], list[str]]:
    found = org_store.organisation(conn, organisation)
    own_teams: list[str] = found["teams"] if found else []
    own_communities: list[str] = found["communities"] if found else []
    if not own_teams:
        raise Invalid(f"{organisation} owns no team yet, so no case would reach this subscription")
    foreign = sorted(set(teams or []) - set(own_teams)) + sorted(
        set(communities or []) - set(own_communities)
    )
    if foreign:
        raise Invalid(
            f"{', '.join(foreign)}: not of {organisation}; name its teams and communities or leave them out"
        )
    return communities or own_communities, teams or own_teams


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


def delivery(
    conn: psycopg.Connection[Any], user: User, subscription_id: int, delivery_id: int
) -> dict[str, Any]:
    _owned(conn, user, subscription_id)
    found = outbox.delivery(conn, subscription_id, delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id} for subscription {subscription_id}")
    return found


def send_test(conn: psycopg.Connection[Any], user: User, subscription_id: int) -> dict[str, Any]:
    """A signed test notification to this subscription, sent by the drainers like any other and tried
    once; its delivery shows the receiver's answer. Its event id is `test-N`, and it has no case."""
    _owned(conn, user, subscription_id)
    payload = {
        "test": True,
        "action": "test",
        "subscription_id": subscription_id,
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "title": "Test notification from the hub: no case is behind it",
    }
    return delivery(conn, user, subscription_id, outbox.enqueue_test(conn, subscription_id, payload))


def retry(
    conn: psycopg.Connection[Any], user: User, subscription_id: int, delivery_id: int
) -> dict[str, Any]:
    """A dead delivery is due again at once, with its attempts counted afresh."""
    found = delivery(conn, user, subscription_id, delivery_id)
    if not outbox.retry_dead(conn, subscription_id, delivery_id):
        raise Conflict(f"delivery {delivery_id} is {found['status']}: only a dead delivery is retried")
    return delivery(conn, user, subscription_id, delivery_id)


def _owned(conn: psycopg.Connection[Any], user: User, subscription_id: int) -> dict[str, Any]:
    found = subscription_store.get(conn, subscription_id)
    if found is None or (user.role != Role.ADMIN and found["owner_id"] != user.id):
        raise NotFound(f"no subscription {subscription_id} of yours")
    return found
