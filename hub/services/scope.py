"""Community scope: what a caller may see. Outside one's communities looks the same as absent."""

from collections.abc import Collection
from typing import Any

import psycopg

from hub.domain.errors import Invalid, NotFound
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import communities as community_store


def visible(user: User, record: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The record if the caller may see it, else NotFound naming `what`."""
    scope = user.community_scope()
    if record is None or (scope is not None and record["community_id"] not in scope):
        raise NotFound(f"no {what} in your communities")
    return record


def resident_id(user: User) -> int | None:
    """A resident's id, for queries that narrow what residents see; None for everyone else."""
    return user.id if user.role == Role.RESIDENT else None


def check_communities(conn: psycopg.Connection[Any], user: User, communities: Collection[str]) -> None:
    """Communities named in a request exist and lie in the caller's scope; both failures read the same,
    so a manager learns nothing of other communities."""
    scope = user.community_scope()
    wrong = set(community_store.missing(conn, communities))
    wrong |= set() if scope is None else set(communities) - set(scope)
    if wrong:
        raise Invalid(
            f"no community {', '.join(sorted(wrong))}" + ("" if scope is None else " in your communities")
        )
