"""The audit log: the dependency that writes it around a route, and the admin's route that reads it.

One mechanism for every audited route: `audited(...)` is a dependency declared before the route's role
check, so every outcome reaches it — success, a role refusal (403), a scope refusal (404), a refused
move (409), a bad request (422) — as the exception thrown into it. It runs the route in a transaction
and writes an accepted request's row inside it, so the action and its row commit together or not at
all; a refused request's work is rolled back first and its row then written on its own. Its scope is
"function", so the row is committed before the response is sent, not after.

A request without a valid token is not audited: there is nobody to name, and log-in failures have
their own limits (see `hub.api.ratelimit`).
"""

import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api.deps import Conn, CurrentUser, require
from hub.domain.users import User
from hub.store import audit as audit_store

router = APIRouter(tags=["audit"])

TargetType = Literal["case", "device"]
_REASON_CHARS = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?\d{1,18})\.(-?\d{1,19})")
_OUT_OF_RANGE = "`from` and `to` must lie between the years 1 and 9999 in UTC"


@dataclass
class Audit:
    """The row a request will leave. A route narrows the action (`case.resolve`), names a target it
    created and adds details as it learns them — never secrets, photos or free-text notes. Without a
    `community` the target's own is looked up when the row is written."""

    action: str
    target_type: TargetType
    target_id: str | None
    community: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def audited(action: str, target_type: TargetType, target_param: str | None = None) -> Any:
    """Declare it as a route parameter *before* the role check; `target_param` names the path parameter
    holding the target's id."""

    def audit(request: Request, conn: Conn, user: CurrentUser) -> Iterator[Audit]:
        target = request.path_params.get(target_param) if target_param else None
        entry = Audit(action, target_type, None if target is None else str(target))
        try:
            with conn.transaction():
                yield entry
                _write(conn, request, user, entry, _declared_status(request))
        except Exception as exc:
            entry.details["refusal"] = _reason(exc)
            _write(conn, request, user, entry, _status_of(exc))
            raise

    return Depends(audit, scope="function")


def _write(conn: Conn, request: Request, user: User, entry: Audit, outcome: int) -> None:
    audit_store.record(
        conn,
        actor=user,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        community=entry.community or audit_store.community_of(conn, entry.target_type, entry.target_id),
        outcome=outcome,
        client_addr=request.client.host if request.client else None,
        details=entry.details,
    )


def _declared_status(request: Request) -> int:
    code = getattr(request.scope.get("route"), "status_code", None)
    return int(code) if code else status.HTTP_200_OK


def _status_of(exc: Exception) -> int:
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return status.HTTP_422_UNPROCESSABLE_CONTENT
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def _reason(exc: Exception) -> str:
    """What the caller was told, without the values they sent (a refused body may hold a photo)."""
    if isinstance(exc, StarletteHTTPException):
        text = str(exc.detail)
    elif isinstance(exc, RequestValidationError):
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
    else:
        text = type(exc).__name__
    return text[:_REASON_CHARS]


# -- keyset cursors and time ranges, shared with the access-event list ----------------------------------


def encode_cursor(time: datetime, key: int) -> str:
    """The last row's (time, key) as `<microseconds since 1970>.<key>`: exact, and safe in a URL."""
    return f"{(time - _EPOCH) // timedelta(microseconds=1)}.{key}"


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    if text is None:
        return None
    found = _CURSOR.fullmatch(text)
    if found is not None and abs(int(found[2])) <= audit_store.BIGINT_MAX:
        with suppress(OverflowError):  # a time past the year 9999
            return _EPOCH + timedelta(microseconds=int(found[1])), int(found[2])
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "`cursor` is not one this API gave out; pass `next_cursor` of the previous page unchanged",
    )


def utc(t: datetime) -> datetime:
    """No offset means UTC; a time that leaves Python's years 1 to 9999 once in UTC is the caller's error."""
    try:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except OverflowError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _OUT_OF_RANGE) from None


def ordered(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`to` must be later than `from`")


# -- the admin's view ------------------------------------------------------------------------------------


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
    _admin: Annotated[User, Depends(require("admin"))],
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
    filters = audit_store.Filters(actor, action, target_type, target_id, community, since, until)
    rows = audit_store.list_entries(conn, filters, after=decode_cursor(cursor), limit=limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return AuditPage(
        entries=[AuditEntryOut.model_validate(r) for r in rows[:limit]],
        next_cursor=None if last is None else encode_cursor(last["time"], last["id"]),
    )
