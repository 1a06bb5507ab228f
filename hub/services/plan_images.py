"""A community's site-plan image: put, read and remove it, within the caller's communities."""

from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.devices.plan_image import image_type
from hub.domain.errors import NotFound
from hub.domain.users import User
from hub.store import plan_images as store


def _in_scope(user: User, community: str) -> None:
    scope = user.community_scope()
    if scope is not None and community not in scope:
        raise NotFound(f"no community {community} in your communities")


def put(
    conn: psycopg.Connection[Any], user: User, community: str, data: bytes, declared: str | None
) -> dict[str, Any]:
    """Store `data` (a PNG or JPEG file) as the community's plan image, replacing the one before."""
    _in_scope(user, community)
    content_type = image_type(data, declared)
    at = datetime.now(UTC)
    if not store.put(conn, community, content_type, data, at):
        raise NotFound(f"no community {community}")
    return {"community": community, "content_type": content_type, "size": len(data), "updated_at": at}


def get(conn: psycopg.Connection[Any], user: User, community: str) -> dict[str, Any]:
    _in_scope(user, community)
    found = store.get(conn, community)
    if found is None:
        raise NotFound(f"community {community} has no plan image")
    return found


def delete(conn: psycopg.Connection[Any], user: User, community: str) -> None:
    _in_scope(user, community)
    if not store.delete(conn, community):
        raise NotFound(f"community {community} has no plan image")
