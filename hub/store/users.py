"""User accounts and log-in sessions. Passwords are argon2 hashes; session tokens are stored as SHA-256.
An account is never deleted (cases and the audit log keep its name): it is disabled, which also ends its
sessions and refuses its log-ins and tokens."""

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from hub.domain.roles import Role
from hub.domain.users import User
from hub.store.sql import OPEN_CASE

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing-equaliser")

_ACCOUNT = f"""
    SELECT u.id, u.username, u.display_name, u.role, u.communities, u.disabled_at, u.created_at, u.organisation,
           coalesce((SELECT array_agg(t.team ORDER BY t.team) FROM team_members t WHERE t.user_id = u.id),
                    '{{}}') AS teams,
           (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now())::int AS sessions,
           (SELECT count(*) FROM cases c WHERE c.assignee_id = u.id AND c.{OPEN_CASE})::int AS open_cases
    FROM users u
"""  # noqa: S608 - the interpolated text is a constant


def upsert_user(
    conn: psycopg.Connection[Any],
    username: str,
    password: str,
    role: str,
    communities: list[str] | None = None,
    organisation: str | None = None,
) -> int:
    """An organisation given binds the account to it; none leaves an earlier binding as it was."""
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role, communities, organisation) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
        "communities = EXCLUDED.communities, organisation = coalesce(EXCLUDED.organisation, users.organisation) "
        "RETURNING id",
        (username, _hasher.hash(password), role, communities or [], organisation),
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


@dataclass(frozen=True)
class LoggedIn:
    """Right credentials; `disabled` when the account may not log in."""

    user: User
    disabled: bool


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> LoggedIn | None:
    row = conn.execute(
        "SELECT u.id, u.username, u.role, coalesce(o.communities, u.communities), u.password_hash, "
        "u.disabled_at IS NOT NULL, u.organisation FROM users u "
        "LEFT JOIN organisations o ON o.id = u.organisation WHERE u.username = %s",
        (username,),
    ).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return LoggedIn(User(int(row[0]), row[1], Role(row[2]), tuple(row[3]), row[6]), bool(row[5]))


def create_session(conn: psycopg.Connection[Any], user_id: int, ttl_s: int) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (%s, %s, %s)",
        (_digest(token), user_id, expires),
    )
    return token, expires


def user_for_token(conn: psycopg.Connection[Any], token: str) -> User | None:
    """An account bound to an organisation takes the organisation's communities."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, coalesce(o.communities, u.communities), u.organisation "
        "FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN organisations o ON o.id = u.organisation "
        "WHERE s.token_hash = %s AND s.expires_at > now() AND u.disabled_at IS NULL",
        (_digest(token),),
    ).fetchone()
    return None if row is None else User(int(row[0]), row[1], Role(row[2]), tuple(row[3]), row[4])


def end_sessions(conn: psycopg.Connection[Any], user_id: int) -> int:
    """Log the account out everywhere; how many sessions were still open."""
    cur = conn.execute("DELETE FROM sessions WHERE user_id = %s RETURNING expires_at > now()", (user_id,))
    return sum(1 for (live,) in cur.fetchall() if live)


def account(conn: psycopg.Connection[Any], username: str) -> dict[str, Any] | None:
    """An account with its teams and open sessions, for the admin console."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_ACCOUNT + " WHERE u.username = %s", (username,)).fetchone()


def list_accounts(
    conn: psycopg.Connection[Any],
    *,
    search: str | None,
    role: str | None,
    community: str | None,
    disabled: bool | None,
    scope: list[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Accounts by username, and how many match in all. `search` is a substring of the username or the
    display name; `scope` (None: every account) keeps those sharing a community with it."""
    where = """
        WHERE (%(search)s::text IS NULL OR strpos(lower(u.username), lower(%(search)s)) > 0
               OR strpos(lower(coalesce(u.display_name, '')), lower(%(search)s)) > 0)
          AND (%(role)s::text IS NULL OR u.role = %(role)s)
          AND (%(community)s::text IS NULL OR %(community)s = ANY(u.communities))
          AND (%(disabled)s::boolean IS NULL OR (u.disabled_at IS NOT NULL) = %(disabled)s)
          AND (%(scope)s::text[] IS NULL OR u.communities && %(scope)s::text[])
    """
    params = {
        "search": search,
        "role": role,
        "community": community,
        "disabled": disabled,
        "scope": scope,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _ACCOUNT + where + " ORDER BY u.username LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        counted = cur.execute("SELECT count(*) AS n FROM users u " + where, params).fetchone()  # noqa: S608
    return rows, int(counted["n"]) if counted else 0


def create_account(
    conn: psycopg.Connection[Any],
    *,
    username: str,
    password: str,
    role: str,
    communities: Collection[str],
    display_name: str | None,
    organisation: str | None = None,
) -> bool:
    """False when the username is taken."""
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role, communities, display_name, organisation) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING id",
        (username, _hasher.hash(password), role, list(communities), display_name, organisation),
    ).fetchone()
    return row is not None


def update_account(
    conn: psycopg.Connection[Any],
    user_id: int,
    *,
    role: str,
    communities: Collection[str],
    display_name: str | None,
) -> None:
    conn.execute(
        "UPDATE users SET role = %s, communities = %s, display_name = %s WHERE id = %s",
        (role, list(communities), display_name, user_id),
    )


def set_disabled(conn: psycopg.Connection[Any], user_id: int, disabled: bool) -> None:
    """Disabling keeps an earlier disabling's time; enabling clears it."""
    conn.execute(
        "UPDATE users SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END WHERE id = %s",
        (disabled, user_id),
    )


def set_password(conn: psycopg.Connection[Any], user_id: int, password: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), user_id))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def set_organisation(conn: psycopg.Connection[Any], user_id: int, organisation: str | None) -> None:
    conn.execute("UPDATE users SET organisation = %s WHERE id = %s", (organisation, user_id))
