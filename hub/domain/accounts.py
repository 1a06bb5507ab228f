"""Who may see and manage which accounts, teams and communities in the admin console. Pure rules, shared
by the services and their tests: an admin sees and manages everything; a manager sees what shares a
community with them and manages only what lies wholly inside their communities (accounts: residents
only); everyone else manages nothing."""

from collections.abc import Collection

from hub.domain.roles import ALL_COMMUNITIES, Role
from hub.domain.users import User

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.@-]{0,63}$"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200
SCOPED_ROLES = frozenset(Role) - ALL_COMMUNITIES - {Role.MEMBER}
"""roles bound to communities: their accounts need at least one (a member's are its organisation's)"""


def shares(actor: User, communities: Collection[str]) -> bool:
    """The actor's scope meets `communities`: always for roles that see every community."""
    scope = actor.community_scope()
    return scope is None or bool(set(communities) & set(scope))


def within(actor: User, communities: Collection[str]) -> bool:
    """Every one of `communities` is the actor's (an empty list is every community: admins only)."""
    if actor.role == Role.ADMIN:
        return True
    return actor.role == Role.MANAGER and bool(communities) and set(communities) <= set(actor.communities)


def manages_account(actor: User, role: Role, communities: Collection[str]) -> bool:
    """May `actor` create, change, disable or reset an account with this role and communities."""
    if actor.role == Role.ADMIN:
        return True
    return actor.role == Role.MANAGER and role == Role.RESIDENT and within(actor, communities)
