"""Users and log-in sessions. Passwords are argon2 hashes; session tokens are stored as SHA-256."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.domain.roles import Role
from hub.domain.users import User

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def upsert_user(
    conn: psycopg.Connection[Any],
    username: str,
    password: str,
    role: str,
    communities: list[str] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role, communities) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
        "communities = EXCLUDED.communities RETURNING id",
        (username, _hasher.hash(password), role, communities or []),
    ).fetchone()
    assert row is not None
    return int(row[0])


def ensure_user(conn: psycopg.Connection[Any], username: str, password: str, role: str) -> bool:
    """Create the account unless it exists (a password changed since is kept); True if created."""
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s) "
        "ON CONFLICT (username) DO NOTHING RETURNING id",
        (username, _hasher.hash(password), role),
    ).fetchone()
    return row is not None


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> User | None:
    row = conn.execute(
        "SELECT id, username, role, communities, password_hash FROM users WHERE username = %s", (username,)
    ).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return User(int(row[0]), row[1], Role(row[2]), tuple(row[3]))


def create_session(conn: psycopg.Connection[Any], user_id: int, ttl_s: int) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (%s, %s, %s)",
        (_digest(token), user_id, expires),
    )
    return token, expires


def user_for_token(conn: psycopg.Connection[Any], token: str) -> User | None:
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.communities FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = %s AND s.expires_at > now()",
        (_digest(token),),
    ).fetchone()
    return None if row is None else User(int(row[0]), row[1], Role(row[2]), tuple(row[3]))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
