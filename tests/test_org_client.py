"""The reference client `hub-org` against a real hub process (HTTP, its notification drainer, a real
database and broker): the drainage company's system receives the signed webhook of the manhole case
assigned to its team — with the place, the deadlines and links, and nothing personal — refuses a forged
one, then acknowledges, starts, adds evidence and resolves from the command line; a retried resolve
with the same key changes nothing."""

import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from hub import org_client
from hub.settings import OrgClientSettings
from hub.store.users import upsert_user
from tests.support.factories import community
from tests.support.processes import HubProcess, running_hub

PW = "org-client-pw"
API = "/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(
        database_url, tmp_path_factory.mktemp("org-client"), HUB_NOTIFY_POLL_INTERVAL_MS="100"
    ) as process:
        yield process


def run(env: OrgClientSettings, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = org_client.main(list(argv), env)
    return code, json.loads(capsys.readouterr().out)


def test_the_drainage_company_works_its_case_from_webhook_to_resolution(
    hub: HubProcess, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin, operator, bot = f"oc-admin-{tag}", f"oc-op-{tag}", f"oc-drain-bot-{tag}"
    org, team = f"oc-drainage-{tag}", f"oc-drain-{tag}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "oc")
        for user, role in ((admin, "admin"), (operator, "operator"), (bot, "integration")):
            upsert_user(conn, user, PW, role)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    with httpx.Client(base_url=hub.url, timeout=10) as http:
        as_admin = hub.login(admin, PW)
        body = {
            "id": org,
            "kind": "utility",
            "name_en": "Drainage Co",
            "name_zh": "排水公司",
            "communities": [where],
        }
        assert http.post(f"{API}/organisations", json=body, headers=as_admin).status_code == 201
        team_body = {"id": team, "name_en": "Drain crew", "name_zh": "排水班", "communities": [where]}
        assert http.post(f"{API}/teams", json=team_body, headers=as_admin).status_code == 201
        assert http.put(f"{API}/organisations/{org}/teams/{team}", headers=as_admin).status_code == 200
        assert http.put(f"{API}/organisations/{org}/accounts/{bot}", headers=as_admin).status_code == 200

        server = ThreadingHTTPServer(("127.0.0.1", 0), org_client.receiver("pending", events.put))
        hook = {"url": f"http://127.0.0.1:{server.server_port}/hub"}
        created = http.post(f"{API}/subscriptions", json=hook, headers=hub.login(bot, PW))
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        server.RequestHandlerClass = org_client.receiver(secret, events.put)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            forged = b'{"case_id": 1}'
            stamp = str(int(time.time()))
            wrong = hmac.new(b"not-the-secret", stamp.encode() + b"." + forged, hashlib.sha256).hexdigest()
            r = httpx.post(
                hook["url"],
                content=forged,
                headers={"X-Hub-Timestamp": stamp, "X-Hub-Signature": f"sha256={wrong}"},
            )
            assert r.status_code == 401

            as_operator = hub.login(operator, PW)
            report = {
                "community": where,
                "category": "flood",
                "title": "Manhole b3",
                "description": "manhole overflowing, reported by the tenant of flat 3-201",
                "building": "b3",
            }
            case = http.post(f"{API}/cases", json=report, headers=as_operator).json()
            assigned = http.post(
                f"{API}/cases/{case['id']}/actions",
                json={"action": "assign", "team": team},
                headers=as_operator,
            )
            assert assigned.status_code == 200, assigned.text
            event = events.get(timeout=20)
            assert (event["case_id"], event["action"], event["organisation"]) == (case["id"], "assigned", org)
            assert event["place"] == {"building": "b3", "grid": None, "device_id": None}
            assert event["deadlines"]["resolve_due_at"].endswith("Z")
            assert event["links"] == {"case": f"/api/v1/cases/{case['id']}", "evidence": []}
            assert event["title"] == "Manhole b3"
            assert "reporter" not in json.dumps(event) and "flat 3-201" not in json.dumps(event)

            env = OrgClientSettings(url=hub.url, username=bot, password=SecretStr(PW))
            assert run(env, "act", str(case["id"]), "acknowledge", capsys=capsys)[0] == 0
            assert run(env, "act", str(case["id"]), "start", capsys=capsys)[0] == 0
            photo = tmp_path / "cover.png"
            photo.write_bytes(PNG)
            code, out = run(
                env, "evidence", str(case["id"]), "--photo", str(photo), "--note", "new cover", capsys=capsys
            )
            assert (code, out["status"], out["answer"]["kind"]) == (0, 201, "photo")
            key = str(uuid.uuid4())
            first = run(
                env, "act", str(case["id"]), "resolve", "--note", "drain cleared", "--key", key, capsys=capsys
            )
            again = run(
                env, "act", str(case["id"]), "resolve", "--note", "drain cleared", "--key", key, capsys=capsys
            )
            assert first == again and first[1]["answer"]["status"] == "resolved"
            resolved = [e for e in first[1]["answer"]["history"] if e["action"] == "resolved"]
            assert len(resolved) == 1
            history = http.get(f"{API}/cases/{case['id']}", headers=as_operator).json()["history"]
            assert [e["action"] for e in history].count("resolved") == 1

            seen = [events.get(timeout=20) for _ in range(4)]
            assert [e["action"] for e in seen] == ["acknowledged", "started", "evidence_added", "resolved"]
            assert seen[-1]["links"]["evidence"] == [
                f"/api/v1/cases/{case['id']}/attachments/{out['answer']['id']}"
            ]
            code, refused = run(env, "act", str(case["id"]), "close", capsys=capsys)
            assert (code, refused["status"]) == (1, 403)
        finally:
            server.shutdown()
            server.server_close()
