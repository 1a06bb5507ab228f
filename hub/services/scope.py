"""Community scope: what a caller may see. Outside one's communities looks the same as absent."""

from typing import Any

from hub.domain.errors import NotFound
from hub.domain.roles import Role
from hub.domain.users import User


def visible(user: User, record: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The record if the caller may see it, else NotFound naming `what`."""
    scope = user.community_scope()
    if record is None or (scope is not None and record["community_id"] not in scope):
        raise NotFound(f"no {what} in your communities")
    return record


def resident_id(user: User) -> int | None:
    """A resident's id, for queries that narrow what residents see; None for everyone else."""
    return user.id if user.role == Role.RESIDENT else None
