"""The calls a clustered broker makes before it lets an MQTT client in or lets it publish or subscribe.

There is no user: the broker is the caller, and the path carries `HUB_BROKER_AUTH_SECRET`, which only the
brokers' configuration holds (without it set, every path here is 404). RabbitMQ's `auth_backend_http`
posts a form and reads `allow` or `deny`; EMQX's HTTP authentication and authorization post JSON and read
`{"result": "allow" | "deny"}`. Both ask the same service. Each calling address is rate-limited; over the
limit the answer is 429, which either broker takes as a refusal.
"""

import hmac
import json
import time
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from hub.broker.auth import routing_key_topic
from hub.domain.broker import Action
from hub.ingest.ratelimit import DeviceRateLimit
from hub.services.broker_auth import BrokerAuth
from hub.settings import Settings

router = APIRouter(tags=["broker auth"], include_in_schema=False)

Secret = Annotated[str, Path(max_length=200)]


def _checked(request: Request, secret: Secret) -> BrokerAuth:
    settings: Settings = request.app.state.settings
    expected = settings.broker_auth_secret
    if expected is None or not hmac.compare_digest(secret.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    limit: DeviceRateLimit = request.app.state.broker_auth_limit
    if not limit.allow(request.client.host if request.client else "-", time.monotonic()):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many auth calls from this address")
    auth: BrokerAuth = request.app.state.broker_auth
    return auth


Auth = Annotated[BrokerAuth, Depends(_checked)]


async def _form(request: Request, *names: str) -> list[str]:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    missing = [n for n in names if n not in form]
    if missing:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"missing form field(s): {', '.join(missing)}")
    return [form[n] for n in names]


async def _json(request: Request, *names: str) -> list[str]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from None
    if not isinstance(body, dict) or not all(isinstance(body.get(n), str) for n in names):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"a JSON object with string fields {', '.join(names)}"
        )
    return [body[n] for n in names]


def _db(request: Request, work: Any, *args: Any) -> bool:
    with request.app.state.pool.connection() as conn:
        return bool(work(conn, *args))


def _word(allowed: bool) -> PlainTextResponse:
    return PlainTextResponse("allow" if allowed else "deny")


@router.post("/broker-auth/{secret}/rabbitmq/user")
async def rabbitmq_user(request: Request, auth: Auth) -> PlainTextResponse:
    """`username`, `password`: a system account's configured password or a device's stored hash."""
    username, password = await _form(request, "username", "password")
    return _word(await run_in_threadpool(_db, request, auth.login, username, password))


@router.post("/broker-auth/{secret}/rabbitmq/vhost")
async def rabbitmq_vhost(request: Request, auth: Auth) -> PlainTextResponse:
    username, vhost = await _form(request, "username", "vhost")
    return _word(await run_in_threadpool(_db, request, auth.may_enter, username, vhost))


@router.post("/broker-auth/{secret}/rabbitmq/resource")
async def rabbitmq_resource(request: Request, auth: Auth) -> PlainTextResponse:
    username, vhost, kind, name, permission = await _form(
        request, "username", "vhost", "resource", "name", "permission"
    )
    allowed = await run_in_threadpool(
        _db, request, auth.may_use_resource, username, vhost, kind, name, permission
    )
    return _word(allowed)


@router.post("/broker-auth/{secret}/rabbitmq/topic")
async def rabbitmq_topic(request: Request, auth: Auth) -> PlainTextResponse:
    """`routing_key` is the MQTT topic with `/` as `.`; `permission` write is a publish, read a subscribe."""
    username, vhost, permission, routing_key = await _form(
        request, "username", "vhost", "permission", "routing_key"
    )
    if vhost != request.app.state.settings.broker_vhost or permission not in ("write", "read"):
        return _word(False)
    action = Action.PUBLISH if permission == "write" else Action.SUBSCRIBE
    topic = routing_key_topic(routing_key)
    return _word(await run_in_threadpool(_db, request, auth.may, username, action, topic))


@router.post("/broker-auth/{secret}/emqx/authn")
async def emqx_authn(request: Request, auth: Auth) -> dict[str, str]:
    """EMQX's HTTP authentication, body `{"username": "${username}", "password": "${password}"}`."""
    username, password = await _json(request, "username", "password")
    allowed = await run_in_threadpool(_db, request, auth.login, username, password)
    return {"result": "allow" if allowed else "deny"}


@router.post("/broker-auth/{secret}/emqx/authz")
async def emqx_authz(request: Request, auth: Auth) -> dict[str, str]:
    """EMQX's HTTP authorization, body `{"username": "${username}", "topic": "${topic}", "action":
    "${action}"}` with action `publish` or `subscribe`."""
    username, topic, action = await _json(request, "username", "topic", "action")
    if action not in (Action.PUBLISH, Action.SUBSCRIBE):
        return {"result": "deny"}
    allowed = await run_in_threadpool(_db, request, auth.may, username, Action(action), topic)
    return {"result": "allow" if allowed else "deny"}
