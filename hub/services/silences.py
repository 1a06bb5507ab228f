"""Silences: an operator's 'not now' for a rule, a device, a building or a community. Matching alerts
are recorded but open no case."""

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.domain.errors import Invalid, NotFound
from hub.domain.users import User
from hub.store import cases as case_store
from hub.store import devices as device_store
from hub.store import silences


def create(
    conn: psycopg.Connection[Any],
    user: User,
    *,
    rule_id: str | None,
    device_id: str | None,
    community_id: str | None,
    building: str | None,
    starts_at: datetime | None,
    ends_at: datetime,
    reason: str,
) -> dict[str, Any]:
    """A silence from `starts_at` (None: now); an unknown device or community is the request's error,
    named, rather than a silence that can never match."""
    if device_id is not None and device_store.get_device(conn, device_id) is None:
        raise Invalid(f"no device {device_id}")
    if community_id is not None and not case_store.community_exists(conn, community_id):
        raise Invalid(f"no community {community_id}")
    try:
        created = silences.create(
            conn,
            rule_id=rule_id,
            device_id=device_id,
            community_id=community_id,
            building=building,
            starts_at=starts_at or datetime.now(UTC),
            ends_at=ends_at,
            reason=reason,
            created_by=user.username,
        )
    except psycopg.errors.ForeignKeyViolation:  # deleted between the check and the insert
        raise Invalid("the device or community to silence does not exist") from None
    return {**created, "state": "scheduled" if created["starts_at"] > datetime.now(UTC) else "active"}


def listed(conn: psycopg.Connection[Any], user: User, recent_days: int) -> list[dict[str, Any]]:
    """Silences in force now, of the caller's communities; with `recent_days`, also those still to
    start and those that ended in the last `recent_days` days."""
    now = datetime.now(UTC)
    since = now - timedelta(days=recent_days) if recent_days else None
    return silences.listed(conn, now, user.community_scope(), since)


def end(conn: psycopg.Connection[Any], user: User, silence_id: int) -> None:
    """A silence ends now, with who ended it, and stays on record."""
    if not silences.end(conn, silence_id, datetime.now(UTC), user.username):
        raise NotFound(f"no silence {silence_id} in force or to come")
