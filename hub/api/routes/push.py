"""Carrier platforms push device messages here. There is no user: each request is authenticated by its
integration's signature (OneNET) or token (CTWing), and answered 200 only after what it carried is
committed."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from hub.ingest.push import PushGateway

router = APIRouter(tags=["push"])

Endpoint = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", examples=["smoke-nb"])]
Text = Annotated[str, Query(max_length=1024)]


def gateway(request: Request) -> PushGateway:
    push: PushGateway | None = request.app.state.push
    if push is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this process takes no platform pushes")
    return push


Gateway = Annotated[PushGateway, Depends(gateway)]


def _client(request: Request) -> str:
    return f"http:{request.client.host if request.client else '-'}"


@router.get("/push/onenet/{endpoint}", response_class=PlainTextResponse)
def onenet_url_check(endpoint: Endpoint, push: Gateway, msg: Text, nonce: Text, signature: Text) -> str:
    """OneNET's URL verification: answers `msg` when `signature` is Base64(MD5(token + nonce + msg)); 401
    otherwise."""
    return push.onenet_url_check(endpoint, msg, nonce, signature)


@router.post("/push/onenet/{endpoint}")
async def onenet_push(endpoint: Endpoint, push: Gateway, request: Request) -> dict[str, str]:
    """(The wait for the commit blocks, so it runs off the event loop.) A signed OneNET data push (`msg`, `nonce`, `msg_signature`): 200 once committed; 401 unsigned, forged
    or too old; 429 over the integration's rate limit; 503 when not committed in time (retry)."""
    body = await request.body()
    await run_in_threadpool(push.onenet, endpoint, body, _client(request))
    return {"status": "committed"}


@router.post("/push/ctwing/{endpoint}")
async def ctwing_push(
    endpoint: Endpoint,
    push: Gateway,
    request: Request,
    token: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, str]:
    """A CTWing (AIoT) push such as `dataReport`, with the integration's token as `?token=`: 200 once
    committed; 401 without the token or too old; 429 over the rate limit; 503 when not committed in time."""
    body = await request.body()
    await run_in_threadpool(push.ctwing, endpoint, token, body, _client(request))
    return {"status": "committed"}
