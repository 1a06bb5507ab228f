"""Shared dependencies: a pooled connection per request (and a standby's for the read-heavy routes),
the caller, role checks and the routing configuration in force."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.api.reads import Standby
from hub.cases import config
from hub.cases.config import DispatchConfig
from hub.domain.roles import STEWARDS, Role
from hub.domain.users import User
from hub.services import auth
from hub.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]


def get_read_conn(request: Request, conn: Conn) -> Iterator[psycopg.Connection[Any]]:
    """The standby's connection for the read-heavy routes (see `hub.api.reads`); the request's own
    primary connection when no standby is configured or it is out. Log-in, scope and anything that must
    see the caller's own writes use `Conn`."""
    standby: Standby | None = request.app.state.standby
    if standby is None:
        yield conn
        return
    with standby.connection() as found:
        yield conn if found is None else found


ReadConn = Annotated[psycopg.Connection[Any], Depends(get_read_conn)]
"""May be a replication lag behind the primary."""


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_app_settings)]


def get_dispatch(settings: AppSettings) -> DispatchConfig:
    """The routing file in force (re-read when it changes)."""
    return config.current(settings.routing_file)


Dispatch = Annotated[DispatchConfig, Depends(get_dispatch)]


def current_user(conn: Conn, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if creds is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in first: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = auth.user_for_token(conn, creds.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown or has expired; log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}")
        return user

    return check


Steward = Annotated[User, Depends(require(*STEWARDS))]
"""an admin, or a manager for their own communities: who runs accounts, teams and communities"""
