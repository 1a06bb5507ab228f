from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from hub.api.deps import AppSettings, Conn, CurrentUser
from hub.store import users

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
    username: str
    role: str
    communities: list[str]


@router.post("/auth/login", response_model=TokenOut)
def login(body: LoginIn, conn: Conn, settings: AppSettings) -> TokenOut:
    user = users.authenticate(conn, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token, expires = users.create_session(conn, user.id, settings.token_ttl_s)
    return TokenOut(access_token=token, expires_at=expires, role=user.role)


@router.get("/auth/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(username=user.username, role=user.role, communities=list(user.communities))
