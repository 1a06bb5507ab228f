"""`hub-org`: the reference client of an organisation's own system (a drainage company, a lift
contractor) — what its integration needs and nothing of the hub's insides: it receives the hub's signed
webhooks and verifies them, and it acts on the organisation's cases over HTTP, every action with an
Idempotency-Key so a retry after a lost answer changes nothing.

    hub-org listen --port 8900                      # prints each verified notification as a JSON line
    hub-org act 42 acknowledge
    hub-org act 42 resolve --note "drain cleared" --key 6f1c…   # reuse the key to retry safely
    hub-org evidence 42 --photo cover.jpg --note "cover replaced"
    hub-org answer 42 7 done --note "main checked"  # a street-office call

Settings come from the environment (`OrgClientSettings` in hub/settings.py): HUB_ORG_URL (the hub,
default http://127.0.0.1:8000), HUB_ORG_USERNAME and HUB_ORG_PASSWORD (the integration account),
HUB_ORG_SECRET (the subscription's signing secret).
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from hub.settings import OrgClientSettings

TOLERANCE_S = 300
"""A notification signed longer ago than this is refused as a replay."""
MAX_BODY = 1_000_000


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """The signature covers the timestamp and the exact body bytes; an old timestamp is a replay."""
    timestamp = headers.get("X-Hub-Timestamp", "")
    signature = headers.get("X-Hub-Signature", "")
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, f"sha256={expected}")


def receiver(secret: str, on_event: Callable[[dict[str, Any]], None]) -> type[BaseHTTPRequestHandler]:
    """A request handler that answers 204 to a verified notification (after `on_event`) and 401 to any
    other, so the hub retries nothing it should not and a forger learns nothing."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY))
            if length > MAX_BODY or not verify(secret, dict(self.headers.items()), body):
                self.send_response(401)
                self.end_headers()
                return
            on_event(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Receiver


class Hub:
    """The hub's API as the integration account, logged in once."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", timeout=30)
        r = self.http.post("/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        return self.http.post(path, json=body, headers={"Idempotency-Key": key})


def main(argv: list[str] | None = None, settings: OrgClientSettings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub-org", description="an organisation's client of the hub")
    sub = parser.add_subparsers(dest="command", required=True)
    listen = sub.add_parser("listen", help="receive and verify webhooks; print each as a JSON line")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=8900)
    act = sub.add_parser("act", help="acknowledge, start, resolve (--note), hand_back (--reason), …")
    act.add_argument("case", type=int)
    act.add_argument("action")
    act.add_argument("--note")
    act.add_argument("--reason")
    act.add_argument("--extend-by")
    evidence = sub.add_parser("evidence", help="a photo (--photo) and/or a note of the work")
    evidence.add_argument("case", type=int)
    evidence.add_argument("--photo", type=Path)
    evidence.add_argument("--note")
    answer = sub.add_parser("answer", help="answer a street-office call: accept, decline (--note), done")
    answer.add_argument("case", type=int)
    answer.add_argument("call", type=int)
    answer.add_argument("answer", choices=["accept", "decline", "done"])
    answer.add_argument("--note")
    for p in (act, evidence, answer):
        p.add_argument("--key", help="Idempotency-Key; give the same one to retry (default: a new UUID)")
    args = parser.parse_args(argv)
    cfg = settings or OrgClientSettings()

    if args.command == "listen":
        secret = cfg.secret.get_secret_value()
        if not secret:
            parser.error("set HUB_ORG_SECRET to the subscription's signing secret")
        server = ThreadingHTTPServer((args.host, args.port), receiver(secret, _print_event))
        print(f"listening on http://{args.host}:{server.server_port}/", file=sys.stderr, flush=True)
        server.serve_forever()
        return 0

    if not cfg.username or not cfg.password.get_secret_value():
        parser.error("set HUB_ORG_USERNAME and HUB_ORG_PASSWORD (the organisation's integration account)")
    hub = Hub(cfg.url, cfg.username, cfg.password.get_secret_value())
    key = args.key or str(uuid.uuid4())
    if args.command == "act":
        fields = {"note": args.note, "reason": args.reason, "extend_by": args.extend_by}
        body = {"action": args.action} | {k: v for k, v in fields.items() if v is not None}
        r = hub.post(f"/cases/{args.case}/actions", body, key)
    elif args.command == "evidence":
        if args.photo is None and not args.note:
            parser.error("give --photo, --note or both")
        body = {"note": args.note} if args.note else {}
        if args.photo is not None:
            body["photo"] = base64.b64encode(args.photo.read_bytes()).decode()
        r = hub.post(f"/cases/{args.case}/attachments", body, key)
    else:
        body = {"answer": args.answer} | ({"note": args.note} if args.note else {})
        r = hub.post(f"/cases/{args.case}/calls/{args.call}/answer", body, key)
    print(
        json.dumps({"status": r.status_code, "idempotency_key": key, "answer": r.json()}, ensure_ascii=False)
    )
    return 0 if r.is_success else 1


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
