"""User accounts in the admin console: list and search, create, change role and communities, disable and
enable, reset a password, end sessions.

Admins manage every account; managers see the accounts sharing one of their communities and manage only
residents of their own communities; an account outside the caller's sight answers as absent. Nobody
changes the role of, disables, resets or logs out their own account here, so the hub always keeps an
admin who can. An account is never deleted: cases and the audit log keep its name."""

import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

from hub.domain.accounts import SCOPED_ROLES, manages_account, shares
from hub.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services.scope import check_communities
from hub.store import organisations as org_store
from hub.store import users as user_store


@dataclass(frozen=True)
class Account:
    """What an account is: the fields an admin sets."""

    role: Role
    communities: tuple[str, ...]
    display_name: str | None
    organisation: str | None = None
    """a member's organisation, which it is created with and acts for"""


@dataclass(frozen=True)
class Search:
    text: str | None = None
    role: Role | None = None
    community: str | None = None
    disabled: bool | None = None


def generate_password() -> str:
    """16 URL-safe characters (96 random bits), easy to read out and type once."""
    return secrets.token_urlsafe(12)


def listing(
    conn: psycopg.Connection[Any], user: User, search: Search, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Accounts the caller sees, each saying whether the caller may manage it; and how many match."""
    rows, total = user_store.list_accounts(
        conn,
        search=search.text,
        role=search.role,
        community=search.community,
        disabled=search.disabled,
        scope=user.community_scope(),
        limit=limit,
        offset=offset,
    )
    return [_out(user, r) for r in rows], total


def get(conn: psycopg.Connection[Any], user: User, username: str) -> dict[str, Any]:
    return _out(user, _visible(conn, user, username))


def create(
    conn: psycopg.Connection[Any], user: User, username: str, account: Account, password: str | None
) -> tuple[dict[str, Any], str | None]:
    """The new account and its generated password when none was given (shown once, never stored). Only a
    member is created with an organisation; integration accounts are bound to one afterwards."""
    if account.organisation is not None and account.role != Role.MEMBER:
        raise Invalid(
            f"only members are created with an organisation; bind a {account.role} with "
            "PUT /organisations/{id}/accounts/{username} (integration accounts only)"
        )
    account = _checked(conn, user, account)
    generated = generate_password() if password is None else None
    if not user_store.create_account(
        conn,
        username=username,
        password=password or generated or "",
        role=account.role,
        communities=account.communities,
        display_name=account.display_name,
        organisation=account.organisation,
    ):
        raise Conflict(f"user {username} exists; change it instead (usernames are never reused)")
    return get(conn, user, username), generated


def update(
    conn: psycopg.Connection[Any], user: User, username: str, change: dict[str, Any]
) -> dict[str, Any]:
    """`change` holds the fields given (role, communities, display_name); the others stay. Moving an
    account to a role that sees every community drops its communities unless new ones are given."""
    found = _managed(conn, user, username)
    role = Role(change.get("role", found["role"]))
    if "communities" in change:
        communities = tuple(change["communities"])
    else:
        communities = tuple(found["communities"]) if role in SCOPED_ROLES else ()
    if found["id"] == user.id and (role != found["role"] or set(communities) != set(found["communities"])):
        raise Invalid("you cannot change your own role or communities; ask another admin")
    if found["role"] == Role.MEMBER and role != Role.MEMBER:
        raise Invalid(
            f"{username} is a member of {found['organisation']} for good; disable it and create another account"
        )
    if found["organisation"] is not None and role != found["role"]:
        raise Invalid(
            f"{username} acts for {found['organisation']}; unbind it with "
            f"DELETE /organisations/{found['organisation']}/accounts/{username} before changing its role"
        )
    if role == Role.MEMBER and found["role"] != Role.MEMBER:
        raise Invalid(
            "a member is created with its organisation: POST /users with role member and organisation"
        )
    account = _checked(
        conn,
        user,
        Account(role, communities, change.get("display_name", found["display_name"]), found["organisation"]),
    )
    user_store.update_account(
        conn,
        found["id"],
        role=account.role,
        communities=account.communities,
        display_name=account.display_name,
    )
    return get(conn, user, username)


def set_disabled(
    conn: psycopg.Connection[Any], user: User, username: str, *, disabled: bool
) -> dict[str, Any]:
    """Disabling ends the account's sessions at once; its name stays on everything it did."""
    found = _not_self(user, _managed(conn, user, username), "disable or enable")
    user_store.set_disabled(conn, found["id"], disabled)
    if disabled:
        user_store.end_sessions(conn, found["id"])
    return get(conn, user, username)


def reset_password(
    conn: psycopg.Connection[Any], user: User, username: str, password: str | None
) -> str | None:
    """Set the given password or a generated one (returned, to be shown once); the old one stops working
    and every session of the account ends."""
    found = _not_self(user, _managed(conn, user, username), "reset the password of")
    generated = generate_password() if password is None else None
    user_store.set_password(conn, found["id"], password or generated or "")
    user_store.end_sessions(conn, found["id"])
    return generated


def end_sessions(conn: psycopg.Connection[Any], user: User, username: str) -> int:
    """Log the account out everywhere; how many sessions ended."""
    found = _not_self(user, _managed(conn, user, username), "end the sessions of")
    return user_store.end_sessions(conn, found["id"])


def _visible(conn: psycopg.Connection[Any], user: User, username: str) -> dict[str, Any]:
    found = user_store.account(conn, username)
    if found is None or not shares(user, found["communities"]):
        raise NotFound(
            f"no user {username}" + ("" if user.community_scope() is None else " in your communities")
        )
    return found


def _managed(conn: psycopg.Connection[Any], user: User, username: str) -> dict[str, Any]:
    found = _visible(conn, user, username)
    if not manages_account(user, Role(found["role"]), found["communities"]):
        raise Forbidden(
            f"{username} is a {found['role']}; managers manage residents of their own communities only"
        )
    return found


def _not_self(user: User, found: dict[str, Any], what: str) -> dict[str, Any]:
    if found["id"] == user.id:
        raise Invalid(f"you cannot {what} your own account here; ask another admin")
    return found


def _checked(conn: psycopg.Connection[Any], user: User, account: Account) -> Account:
    """The account's role and communities fit together, exist, and are the caller's to give."""
    if user.role != Role.ADMIN and account.role != Role.RESIDENT:
        raise Forbidden("managers create and change residents only")
    communities = tuple(sorted(set(account.communities)))
    if account.role in SCOPED_ROLES and not communities:
        raise Invalid(f"a {account.role} needs at least one community")
    if account.role == Role.MEMBER:
        _check_member(conn, account.organisation, communities)
    elif account.role not in SCOPED_ROLES and communities:
        raise Invalid(f"a {account.role} sees every community; leave communities empty")
    check_communities(conn, user, communities)
    display = account.display_name.strip() if account.display_name else None
    return Account(account.role, communities, display or None, account.organisation)


def _check_member(
    conn: psycopg.Connection[Any], organisation: str | None, communities: tuple[str, ...]
) -> None:
    """A member sees what its organisation serves, so it names the organisation and no communities."""
    if organisation is None:
        raise Invalid("a member acts for an organisation: name it in organisation")
    if communities:
        raise Invalid(f"a member sees the communities {organisation} serves; leave communities empty")
    if org_store.organisation(conn, organisation) is None:
        raise Invalid(f"no organisation {organisation}; create it with POST /organisations first")


def _out(user: User, row: dict[str, Any]) -> dict[str, Any]:
    role = Role(row["role"])
    return {
        **{k: v for k, v in row.items() if k != "id"},
        "disabled": row["disabled_at"] is not None,
        "manageable": manages_account(user, role, row["communities"]) and row["id"] != user.id,
        "own": row["id"] == user.id,
    }
