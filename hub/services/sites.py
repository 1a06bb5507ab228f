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


def plan(
    conn: psycopg.Connection[Any], reads: psycopg.Connection[Any], user: User, community: str
) -> dict[str, Any]:
    """The plan from `reads`, which may be a standby a replication lag behind; a community it does not
    have yet is looked up on `conn`, the primary, so one just created has its plan at once."""
    scope = user.community_scope()
    found = None
    if scope is None or community in scope:
        resident = resident_id(user)
        found = device_store.site_plan(
            reads, community, resident, user.organisation
        ) or device_store.site_plan(conn, community, resident, user.organisation)
    if found is None:
        raise NotFound(f"no community {community} in your communities")
    return found
