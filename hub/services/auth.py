"""Log-in and sessions."""

from datetime import datetime
from typing import Any

import psycopg

from hub.domain.users import User
from hub.store import users


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> User | None:
    return users.authenticate(conn, username, password)


def open_session(conn: psycopg.Connection[Any], user: User, ttl_s: int) -> tuple[str, datetime]:
    """A new bearer token (only its hash is stored) and when it expires."""
    return users.create_session(conn, user.id, ttl_s)


def user_for_token(conn: psycopg.Connection[Any], token: str) -> User | None:
    return users.user_for_token(conn, token)
