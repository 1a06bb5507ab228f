"""The dashboard's sites: the communities in the caller's scope at a glance, and a community's plan."""

from typing import Any

import psycopg

from hub.domain.errors import NotFound
from hub.domain.users import User
from hub.services.scope import resident_id
from hub.store import devices as device_store


def summaries(conn: psycopg.Connection[Any], user: User) -> list[dict[str, Any]]:
    """Device states and open cases per community; a resident's open cases are the alert-raised ones
    and their own reports, an organisation's account's its organisation's."""
    return device_store.site_summaries(conn, user.community_scope(), resident_id(user), user.organisation)


def plan(conn: psycopg.Connection[Any], user: User, community: str) -> dict[str, Any]:
    scope = user.community_scope()
    allowed = scope is None or community in scope
    found = device_store.site_plan(conn, community, resident_id(user), user.organisation) if allowed else None
    if found is None:
        raise NotFound(f"no community {community} in your communities")
    return found
