"""The admin's view of the audit log (written by `hub.api.audit`)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hub.api.audit import TargetType
from hub.api.deps import Conn, require
from hub.api.params import decode_cursor, encode_cursor, ordered, utc
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import audit as audit_service

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    time: datetime
    actor_id: int | None = Field(description="the user's id then; the account may be gone since")
    actor: str = Field(description="the username then")
    role: str = Field(description="the role then")
    action: str = Field(description="e.g. access_events.read, case.create, case.resolve, case.merge")
    target_type: TargetType
    target_id: str | None
    community_id: str | None = Field(description="the target's community, also for refused requests")
    outcome: int = Field(description="the HTTP status answered: 2xx accepted, 4xx refused")
    client_addr: str | None
    details: dict[str, Any] = Field(
        description="e.g. the time range and row count of a read, a move's statuses, a refusal's reason"
    )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@router.get(
    "/audit",
    response_model=AuditPage,
    responses={403: {"description": "admins only"}, 422: {"description": "bad filter, range or cursor"}},
)
def list_audit(
    conn: Conn,
    _admin: Annotated[User, Depends(require(Role.ADMIN))],
    actor: str | None = Query(default=None, max_length=100, description="username"),
    action: str | None = Query(default=None, max_length=100, examples=["case.resolve"]),
    target_type: TargetType | None = None,
    target_id: str | None = Query(default=None, max_length=200, description="a case or device id"),
    community: str | None = Query(default=None, max_length=100),
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601, inclusive; without an offset it is UTC"
    ),
    to: datetime | None = Query(default=None, description="ISO 8601, exclusive; without an offset it is UTC"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=50, description="`next_cursor` of the previous page"),
) -> AuditPage:
    """Who read personal data or acted on a case, accepted or refused, newest first."""
    since = utc(from_) if from_ is not None else None
    until = utc(to) if to is not None else None
    ordered(since, until)
    filters = audit_service.Filters(actor, action, target_type, target_id, community, since, until)
    rows = audit_service.entries(conn, filters, after=decode_cursor(cursor), limit=limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return AuditPage(
        entries=[AuditEntryOut.model_validate(r) for r in rows[:limit]],
        next_cursor=None if last is None else encode_cursor(last["time"], last["id"]),
    )
