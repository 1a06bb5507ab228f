"""Case events as server-sent events, scoped to the caller's communities.

A stream holds no database connection between reads (the pool serves requests too); it reads when the
process's LISTEN feed says something committed, and on a timer.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from hub.api.deps import current_user
from hub.domain.users import User
from hub.notify.cursor import EventCursor
from hub.notify.feed import CaseEventFeed
from hub.services import auth
from hub.services import feed as feed_service

BATCH = 500
RECHECK_S = 5.0  # also the keep-alive period, so proxies do not close an idle stream
GAP_GRACE_S = 10.0
REAUTH_S = 60.0
RETRY_MS = 2000


@asynccontextmanager
async def _feed(app: FastAPI) -> AsyncIterator[None]:
    feed = CaseEventFeed(app.state.settings.database_url, asyncio.get_running_loop())
    feed.start()
    app.state.case_event_feed = feed
    try:
        yield
    finally:
        feed.stop()


router = APIRouter(tags=["events"], lifespan=_feed)
_bearer = HTTPBearer(auto_error=False)


def stream_credentials(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(description="the bearer token, for browsers' EventSource, which cannot set headers"),
    ] = None,
) -> HTTPAuthorizationCredentials | None:
    """The bearer token from the header or, on this route only, from `?access_token=`."""
    if creds is None and access_token:
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=access_token)
    return creds


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`event: case_event` messages"}},
)
async def stream(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(stream_credentials)],
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
) -> StreamingResponse:
    """New case events from now on, or from after `Last-Event-ID` when a client resumes."""
    pool: ConnectionPool = request.app.state.pool
    user = await run_in_threadpool(_authenticate, pool, creds)
    assert creds is not None, "authenticated, so there were credentials"
    if last_event_id is None:
        last_event_id = await run_in_threadpool(_latest, pool)
    body = _events(pool, request.app.state.case_event_feed, creds.credentials, user, last_event_id)
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _events(
    pool: ConnectionPool, feed: CaseEventFeed, token: str, user: User, after: int
) -> AsyncIterator[str]:
    cursor = EventCursor(after, GAP_GRACE_S)
    reauth_at = time.monotonic() + REAUTH_S
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        if time.monotonic() >= reauth_at:
            # A stream outlives its request: a session that expired or was revoked ends it, and a
            # changed role or community list applies from here on.
            current = await run_in_threadpool(_user_for, pool, token)
            if current is None:
                return
            user, reauth_at = current, time.monotonic() + REAUTH_S
        seen = feed.version
        rows = await run_in_threadpool(_read, pool, cursor, user)
        cursor.advance((event_id for event_id, _ in rows), time.monotonic())
        for event_id, payload in rows:
            if payload is not None:
                yield _message(event_id, payload)
        if len(rows) == BATCH:
            continue
        if not await feed.wait(seen, RECHECK_S):
            yield ": keep-alive\n\n"


def _authenticate(pool: ConnectionPool, creds: HTTPAuthorizationCredentials | None) -> User:
    with pool.connection() as conn:
        return current_user(conn, creds)


def _user_for(pool: ConnectionPool, token: str) -> User | None:
    with pool.connection() as conn:
        return auth.user_for_token(conn, token)


def _latest(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return feed_service.latest_event_id(conn)


def _read(pool: ConnectionPool, cursor: EventCursor, user: User) -> list[tuple[int, dict[str, Any] | None]]:
    with pool.connection() as conn:
        return feed_service.events_after(
            conn, user, after=cursor.after, skip=cursor.handled_above, limit=BATCH
        )


def _message(event_id: int, payload: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: case_event\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
