"""Signed webhook POSTs.

The signature covers the timestamp and the exact body bytes (`sha256=` HMAC of `timestamp + "." + body`),
so a receiver can refuse both forged and replayed requests. Redirects are not followed: a POST turned
into a GET elsewhere would be reported as delivered without having been.
"""

import hashlib
import hmac
import http.client
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from hub.notify.errors import DeliveryError

USER_AGENT = "sc-hub-notify/1"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, secret: str, event_id: str, body: bytes, timeout_s: float) -> None:
    """Return on any 2xx; anything else raises DeliveryError with what went wrong. `event_id` is the case
    event's id, or `test-N` for a test notification, so receivers never confuse the two."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"not an http(s) URL: {url}", permanent=True)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Hub-Event-Id": event_id,
            "X-Hub-Timestamp": timestamp,
            "X-Hub-Signature": sign(secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"unreachable: {exc.reason}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DeliveryError(f"failed: {exc or type(exc).__name__}") from exc
