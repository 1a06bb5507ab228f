"""Shared dependencies: a pooled connection per request, the caller, and role checks."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.domain.users import User
from hub.settings import Settings
from hub.store import users

_bearer = HTTPBearer(auto_error=False)


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


def current_user(conn: Conn, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if creds is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in first: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = users.user_for_token(conn, creds.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown or has expired; log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: str) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}")
        return user

    return check


def community_scope(user: User) -> list[str] | None:
    """None means every community (admin, operator, integration); managers and residents are limited."""
    if user.role in ("admin", "operator", "integration"):
        return None
    return list(user.communities)


def visible(user: User, record: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """A record the caller may see, else 404: outside one's scope looks the same as absent."""
    scope = community_scope(user)
    if record is None or (scope is not None and record["community_id"] not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} in your communities")
    return record
