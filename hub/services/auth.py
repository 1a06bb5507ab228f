"""Log-in and sessions."""

from datetime import datetime
from typing import Any

import psycopg

from hub.domain.errors import Forbidden
from hub.domain.users import User
from hub.store import cases as case_store
from hub.store import organisations as org_store
from hub.store import users


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> User | None:
    """None for a wrong username or password; a disabled account is refused only after its password
    was right, so the refusal tells nothing to someone guessing."""
    found = users.authenticate(conn, username, password)
    if found is not None and found.disabled:
        raise Forbidden("this account is disabled; ask an administrator to enable it")
    return None if found is None else found.user


def open_session(conn: psycopg.Connection[Any], user: User, ttl_s: int) -> tuple[str, datetime]:
    """A new bearer token (only its hash is stored) and when it expires."""
    return users.create_session(conn, user.id, ttl_s)


def user_for_token(conn: psycopg.Connection[Any], token: str) -> User | None:
    """None for an unknown or expired token, and for a disabled account's."""
    return users.user_for_token(conn, token)


def teams_of(conn: psycopg.Connection[Any], user: User) -> list[str]:
    return case_store.teams_of(conn, user.id)


def organisation_names(conn: psycopg.Connection[Any], user: User) -> dict[str, str | None]:
    """The names of the organisation the account acts for, so a member's pages can say whose cases they
    show without reading the organisations list (which is the hub's people's)."""
    found = org_store.organisation(conn, user.organisation) if user.organisation else None
    return {
        "organisation_name_en": found["name_en"] if found else None,
        "organisation_name_zh": found["name_zh"] if found else None,
    }
