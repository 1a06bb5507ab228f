"""Log-in (a bearer token for a username and password, with rate limits) and who the caller is."""

import logging
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from hub.api.deps import AppSettings, Conn, CurrentUser
from hub.api.ratelimit import USER_LIMIT, WINDOW_S, Refusal, limiter_of
from hub.services import auth

log = logging.getLogger(__name__)

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100, examples=["operator"])
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    role: str


class Me(BaseModel):
    id: int = Field(description="matches a case's reporter_id: the dashboard knows the caller's own reports")
    username: str
    role: str
    communities: list[str]
    teams: list[str] = Field(description="the teams whose cases the caller claims with POST /cases/next")
    organisation: str | None = Field(
        description="the organisation the account acts for (its communities are then the organisation's)"
    )
    organisation_name_en: str | None = Field(
        description="its name, for the pages of an organisation's member"
    )
    organisation_name_zh: str | None


@router.post(
    "/auth/login",
    response_model=TokenOut,
    responses={
        401: {"description": "wrong username or password"},
        403: {"description": "the account is disabled (said only when the password was right)"},
        429: {
            "description": f"more than {USER_LIMIT} failed log-ins for the username (or too many from the "
            f"client address) within {WINDOW_S / 60:g} minutes; `Retry-After` says when to try again",
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
def login(body: LoginIn, request: Request, response: Response, conn: Conn, settings: AppSettings) -> TokenOut:
    """Exchange a username and password for a bearer token. Failed attempts are limited per username
    and per client address; while a limit holds, every attempt is refused with 429."""
    address = request.client.host if request.client else "unknown"
    attempt = limiter_of(request.app.state).begin(body.username, address)
    if isinstance(attempt, Refusal):
        # no username in the log: people type their password into the username field
        log.warning("log-in refused from %s: %s", address, attempt.message)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            attempt.message,
            headers={"Retry-After": str(attempt.retry_after_s)},
        )
    user = auth.authenticate(conn, body.username, body.password)
    if user is None:
        log.info("failed log-in from %s", address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    limiter_of(request.app.state).succeeded(attempt)
    token, expires = auth.open_session(conn, user, settings.token_ttl_s)
    response.headers["Cache-Control"] = "no-store"  # a token response must not be cached (RFC 6749 5.1)
    return TokenOut(access_token=token, expires_at=expires, role=user.role)


@router.get("/auth/me", response_model=Me)
def me(conn: Conn, user: CurrentUser) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        role=user.role,
        communities=list(user.communities),
        teams=auth.teams_of(conn, user),
        organisation=user.organisation,
        **auth.organisation_names(conn, user),
    )
