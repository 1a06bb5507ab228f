"""Request guards in front of every route.

PostgreSQL text cannot hold NUL characters, so a `\\u0000` in a JSON string, a `%00` in the path or
query, or a NUL byte in a CSV body would fail deep inside a route with a 500. They are refused here,
once for every route, with the usual 422 error body.
"""

import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

# a JSON `\u0000` escape: preceded by an even number of backslashes (`\\u0000` is a backslash and text)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_TEXT_BODIES = ("json", "text/", "csv")


def nul_in(request: Request, body: bytes) -> str | None:
    """Where a NUL character is in the request, or None."""
    if "\x00" in request.scope["path"]:
        return "path"
    if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        return "query"
    if body and (b"\x00" in body or _JSON_NUL.search(body) is not None):
        return "body"
    return None


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def reject_nul_characters(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        content_type = request.headers.get("content-type", "")
        reads_body = request.method in ("POST", "PUT", "PATCH") and any(
            t in content_type for t in _TEXT_BODIES
        )
        where = nul_in(request, await request.body() if reads_body else b"")
        if where is not None:
            message = (
                f"invalid request: the {where} contains a NUL character (\\u0000), which cannot be stored"
            )
            return JSONResponse(
                {
                    "error": {
                        "status": 422,
                        "message": message,
                        "details": [{"field": where, "message": message}],
                    }
                },
                422,
            )
        return await call_next(request)
