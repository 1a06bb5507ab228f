"""User accounts: list and search, read, create, change, disable and enable, reset a password, end
sessions. Admins and managers (residents of their own communities); every request is audited."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field, StringConstraints

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, Steward
from hub.api.params import CommunityId, UsernamePath
from hub.domain.accounts import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, USERNAME_PATTERN
from hub.domain.organisations import ORGANISATION_PATTERN
from hub.domain.roles import Role
from hub.services import users as user_service

router = APIRouter(tags=["users"])
MAX_OFFSET = 10_000_000

DisplayName = Annotated[str, StringConstraints(max_length=100)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]


class UserOut(BaseModel):
    username: str
    display_name: str | None
    role: Role
    communities: list[str]
    disabled: bool
    disabled_at: datetime | None
    created_at: datetime
    teams: list[str]
    sessions: int = Field(description="sessions open now")
    open_cases: int = Field(description="open cases assigned to the account")
    manageable: bool = Field(description="the caller may change, disable, reset or log out this account")
    own: bool = Field(description="the caller's own account")
    organisation: str | None = Field(
        description="the organisation a member or a bound integration account acts for"
    )


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN, examples=["li.wei"])
    role: Role
    communities: list[CommunityId] = Field(default_factory=list, max_length=100)
    display_name: DisplayName | None = None
    password: Password | None = Field(default=None, description="omit it to have one generated")
    organisation: str | None = Field(
        default=None, pattern=ORGANISATION_PATTERN, description="a member's organisation (members only)"
    )


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(description="the generated password, shown this once; null when given")


class UserChange(BaseModel):
    role: Role | None = None
    communities: list[CommunityId] | None = Field(default=None, max_length=100)
    display_name: DisplayName | None = Field(default=None, description="null clears it")


class PasswordIn(BaseModel):
    password: Password | None = Field(default=None, description="omit it to have one generated")


class PasswordOut(BaseModel):
    password: str | None = Field(description="the generated password, shown this once; null when given")


class SessionsEnded(BaseModel):
    ended: int


@router.get("/users", response_model=list[UserOut])
def list_users(
    audit: Annotated[Audit, audited("users.read", "user")],
    conn: Conn,
    user: Steward,
    response: Response,
    q: str | None = Query(default=None, max_length=100, description="part of the username or display name"),
    role: Role | None = None,
    community: str | None = Query(default=None, max_length=64),
    state: Literal["active", "disabled"] | None = None,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, Any]]:
    """Accounts the caller sees (a manager: those sharing one of their communities), by username;
    `X-Total-Count` says how many match."""
    search = user_service.Search(q or None, role, community, None if state is None else state == "disabled")
    rows, total = user_service.listing(conn, user, search, limit=limit, offset=offset)
    audit.details.update({"q": q, "role": role, "community": community, "state": state, "rows": len(rows)})
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.post("/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate,
    audit: Annotated[Audit, audited("user.create", "user")],
    conn: Conn,
    user: Steward,
    response: Response,
) -> UserCreated:
    """A new account. Without a password one is generated and answered once; only its hash is kept."""
    response.headers["Cache-Control"] = "no-store"
    audit.target_id = body.username
    audit.details.update(
        {"role": body.role, "communities": body.communities, "generated": body.password is None}
        | ({"organisation": body.organisation} if body.organisation else {})
    )
    account = user_service.Account(body.role, tuple(body.communities), body.display_name, body.organisation)
    created, password = user_service.create(conn, user, body.username, account, body.password)
    return UserCreated(user=UserOut.model_validate(created), password=password)


@router.get("/users/{username}", response_model=UserOut)
def get_user(
    username: UsernamePath,
    _audit: Annotated[Audit, audited("user.read", "user", "username")],
    conn: Conn,
    user: Steward,
) -> dict[str, Any]:
    return user_service.get(conn, user, username)


@router.patch("/users/{username}", response_model=UserOut)
def change_user(
    username: UsernamePath,
    body: UserChange,
    audit: Annotated[Audit, audited("user.update", "user", "username")],
    conn: Conn,
    user: Steward,
) -> dict[str, Any]:
    """Change the role, communities or display name; fields left out stay."""
    given = body.model_dump(include=body.model_fields_set)
    change = {k: v for k, v in given.items() if v is not None or k == "display_name"}
    audit.details.update({k: v for k, v in change.items() if k != "display_name"})
    audit.details["fields"] = sorted(change)
    return user_service.update(conn, user, username, change)


@router.post("/users/{username}/disable", response_model=UserOut)
def disable_user(
    username: UsernamePath,
    _audit: Annotated[Audit, audited("user.disable", "user", "username")],
    conn: Conn,
    user: Steward,
) -> dict[str, Any]:
    """The account can no longer log in and its sessions end; its name stays on what it did."""
    return user_service.set_disabled(conn, user, username, disabled=True)


@router.post("/users/{username}/enable", response_model=UserOut)
def enable_user(
    username: UsernamePath,
    _audit: Annotated[Audit, audited("user.enable", "user", "username")],
    conn: Conn,
    user: Steward,
) -> dict[str, Any]:
    return user_service.set_disabled(conn, user, username, disabled=False)


@router.post("/users/{username}/password", response_model=PasswordOut)
def reset_password(
    username: UsernamePath,
    body: PasswordIn,
    audit: Annotated[Audit, audited("user.reset_password", "user", "username")],
    conn: Conn,
    user: Steward,
    response: Response,
) -> PasswordOut:
    """Set a new password (given, or generated and answered once); the old one stops working and the
    account's sessions end."""
    audit.details["generated"] = body.password is None
    response.headers["Cache-Control"] = "no-store"
    return PasswordOut(password=user_service.reset_password(conn, user, username, body.password))


@router.delete("/users/{username}/sessions", response_model=SessionsEnded)
def end_sessions(
    username: UsernamePath,
    audit: Annotated[Audit, audited("user.end_sessions", "user", "username")],
    conn: Conn,
    user: Steward,
) -> SessionsEnded:
    """Log the account out everywhere (it may log in again)."""
    ended = user_service.end_sessions(conn, user, username)
    audit.details["ended"] = ended
    return SessionsEnded(ended=ended)
