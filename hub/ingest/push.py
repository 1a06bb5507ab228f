"""Carrier platforms' HTTP pushes (China Mobile OneNET, China Telecom CTWing) into ingest.

A push is verified (OneNET: Base64(MD5(token + nonce + msg)); CTWing: the integration's token), limited
per integration, and put on the ingest queue like an MQTT message; the request is answered only once
the pipeline has committed what the message became (readings or a dead letter), so a hub that dies
between receiving and committing answers nothing and the platform's retry is stored once by the
idempotency key. A platform time older than `push_max_age_s` (or ahead by more than the contract's ten
minutes) is refused, so an old captured request cannot be replayed later."""

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.domain.errors import Invalid, NotFound, TooLarge, TooMany, Unauthenticated, Unavailable
from hub.ingest.adapted import AdapterSet, http_topic
from hub.ingest.inbound import Inbound
from hub.ingest.ratelimit import DeviceRateLimit
from hub.settings import Settings

MAX_BODY_BYTES = 16 * 1024
MAX_AHEAD_S = 600


def onenet_signature(token: str, nonce: str, msg: str) -> str:
    return base64.b64encode(hashlib.md5((token + nonce + msg).encode()).digest()).decode()  # noqa: S324 — OneNET's scheme


class PushGateway:
    def __init__(
        self,
        settings: Settings,
        inbox: "queue.Queue[Inbound]",
        adapters: AdapterSet,
        partitions: Callable[[], list[int]],
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._adapters = adapters
        self._partitions = partitions
        self._limit = DeviceRateLimit(settings.push_rate_per_s, settings.push_burst)
        self._lock = threading.Lock()

    def onenet_url_check(self, endpoint: str, msg: str, nonce: str, signature: str) -> str:
        """OneNET's check of a new push URL: the `msg` echoed when the signature matches."""
        token = self._token("onenet", endpoint)
        if not _same(signature, onenet_signature(token, nonce, msg)):
            raise Unauthenticated("signature does not match")
        return msg

    def onenet(self, endpoint: str, body: bytes, client: str) -> None:
        token = self._token("onenet", endpoint)
        doc = _json(body)
        msg, nonce, signature = doc.get("msg"), doc.get("nonce"), doc.get("msg_signature")
        if not isinstance(nonce, str) or not isinstance(signature, str) or msg is None:
            raise Unauthenticated("an unsigned push: msg, nonce and msg_signature are required")
        signed = msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
        if not _same(signature, onenet_signature(token, nonce, signed)):
            raise Unauthenticated("signature does not match")
        if isinstance(msg, str):
            try:
                doc["msg"] = msg = json.loads(msg)
            except ValueError:
                raise Invalid("msg is not JSON") from None
        at = msg.get("at") if isinstance(msg, dict) else None
        self._commit("onenet", endpoint, doc, at, client)

    def ctwing(self, endpoint: str, token: str | None, body: bytes, client: str) -> None:
        if token is None or not _same(token, self._token("ctwing", endpoint)):
            raise Unauthenticated("a push without the integration's token")
        doc = _json(body)
        self._commit("ctwing", endpoint, doc, doc.get("timestamp"), client)

    def _token(self, platform: str, endpoint: str) -> str:
        if self._adapters.for_topic(http_topic(platform, endpoint)) is None:
            raise NotFound(f"no adapter takes {platform} pushes at {endpoint!r}")
        token = self._settings.push_tokens.get(f"{platform}/{endpoint}")
        if token is None:
            raise NotFound(f"no token is configured for {platform}/{endpoint} (HUB_PUSH_TOKENS)")
        return token.get_secret_value()

    def _commit(self, platform: str, endpoint: str, doc: dict[str, Any], at_ms: object, client: str) -> None:
        now = time.time()
        if isinstance(at_ms, bool) or not isinstance(at_ms, (int, float)):
            raise Invalid("the push carries no platform time in milliseconds")
        age = now - at_ms / 1000
        if age > self._settings.push_max_age_s or age < -MAX_AHEAD_S:
            raise Unauthenticated("the platform time is outside the accepted window: a replayed request?")
        with self._lock:
            allowed = self._limit.allow(f"{platform}/{endpoint}", now)
        if not allowed:
            raise TooMany(f"{platform}/{endpoint} is over its rate limit")
        owned = self._partitions()
        if not owned:
            raise Unavailable("this worker takes no ingest now; try another")
        committed = threading.Event()
        message = Inbound(
            http_topic(platform, endpoint),
            json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
            0,
            0,
            datetime.now(UTC),
            client_id=client,
            partition=owned[0],
            committed=committed,
        )
        timeout = self._settings.push_commit_timeout_s
        try:
            self._inbox.put(message, timeout=timeout)
        except queue.Full:
            raise Unavailable("ingest is behind; try again") from None
        if not committed.wait(timeout):
            raise Unavailable("not committed in time; try again (a retry is stored once)")


def _json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"a push of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid("the push is not JSON") from None
    if not isinstance(doc, dict):
        raise Invalid("the push is not a JSON object")
    return doc


def _same(given: str, expected: str) -> bool:
    """Query strings turn a base64 '+' into a space when the platform did not escape it."""
    return hmac.compare_digest(given.replace(" ", "+").encode(), expected.encode())
