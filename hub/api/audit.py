"""The audit log around a route: the dependency that writes a request's row.

One mechanism for every audited route: `audited(...)` is a dependency declared before the route's role
check, so every outcome reaches it — success, a role refusal (403), a scope refusal (404), a refused
move (409), a bad request (422) — as the exception thrown into it. It runs the route in a transaction
and writes an accepted request's row inside it, so the action and its row commit together or not at
all; a refused request's work is rolled back first and its row then written on its own. Its scope is
"function", so the row is committed before the response is sent, not after.

A request without a valid token is not audited: there is nobody to name, and log-in failures have
their own limits (see `hub.api.ratelimit`).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Depends, Request, status
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api.deps import Conn, CurrentUser
from hub.api.errors import status_of
from hub.domain.audit import AuditEntry
from hub.domain.errors import Refused
from hub.domain.users import User
from hub.services import audit as audit_service

TargetType = Literal[
    "case",
    "device",
    "user",
    "team",
    "community",
    "rule_file",
    "silence",
    "subscription",
    "organisation",
    "adapter",
]
_REASON_CHARS = 500


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
            _write(conn, request, user, entry, status_of(exc))
            raise

    return Depends(audit, scope="function")


def _write(conn: Conn, request: Request, user: User, entry: Audit, outcome: int) -> None:
    client = request.client.host if request.client else None
    audit_service.record(
        conn,
        AuditEntry(
            user,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.community,
            outcome,
            client,
            entry.details,
        ),
    )


def _declared_status(request: Request) -> int:
    code = getattr(request.scope.get("route"), "status_code", None)
    return int(code) if code else status.HTTP_200_OK


def _reason(exc: Exception) -> str:
    """What the caller was told, without the values they sent (a refused body may hold a photo)."""
    if isinstance(exc, StarletteHTTPException):
        text = str(exc.detail)
    elif isinstance(exc, Refused):
        text = str(exc)
    elif isinstance(exc, RequestValidationError):
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
    else:
        text = type(exc).__name__
    return text[:_REASON_CHARS]
