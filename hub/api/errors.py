"""One error body for every failure: `{"error": {"status", "message", "details"}}`, and the one place
where a service's refusal (`hub.domain.errors`) becomes an HTTP status."""

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hub.domain.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    TooLarge,
    TooMany,
    Unauthenticated,
    Unavailable,
    Unsupported,
)

_STATUS_OF: tuple[tuple[type[Refused], int], ...] = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (TooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (Unsupported, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (Invalid, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (Conflict, status.HTTP_409_CONFLICT),
    (Unauthenticated, status.HTTP_401_UNAUTHORIZED),
    (TooMany, status.HTTP_429_TOO_MANY_REQUESTS),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def status_of(exc: BaseException) -> int:
    """The status the caller is answered with for `exc`."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return status.HTTP_422_UNPROCESSABLE_CONTENT
    if isinstance(exc, Refused):
        return next((code for kind, code in _STATUS_OF if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST)
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def _body(status: int, message: str, details: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "details": list(details or [])}}


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(_body(exc.status_code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Refused)
    async def refused(_r: Request, exc: Refused) -> JSONResponse:
        code = status_of(exc)
        return JSONResponse(_body(code, str(exc), exc.details), code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_r: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
        return JSONResponse(_body(422, f"invalid request: {summary}", details), 422)
