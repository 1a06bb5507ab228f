"""The subscriptions API (in-process app, real database) and dead deliveries as a subscriber sees them."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.notify.drainer import Drainer
from hub.store import db
from tests.support.api import app_client, login
from tests.support.notify import add_case, add_event, drain_until, notify_settings
from tests.support.services import free_port, migrated_database

USERS = {
    "sub-admin": ("admin", ()),
    "sub-int": ("integration", ()),
    "sub-int2": ("integration", ()),
    "sub-op": ("operator", ()),
    "sub-mgr": ("manager", ("subc",)),
}


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of this module's own, so the drainer's count is of this module's deliveries alone."""
    with migrated_database() as url:
        yield url


@pytest.fixture
def client(database_url: str, conn: psycopg.Connection[Any], tmp_path: Path) -> Iterator[TestClient]:
    with app_client(database_url, users=USERS, mqtt_auth_dir=tmp_path / "auth") as c:
        yield c
    conn.execute(
        "DELETE FROM notification_subscriptions s USING users u WHERE u.id = s.created_by AND u.username = ANY(%s)",
        (list(USERS),),
    )


def test_a_subscription_shows_its_secret_once_and_refuses_other_schemes(client: TestClient) -> None:
    admin = login(client, "sub-admin")
    body = {
        "url": "https://receiver.example/hooks/hub",
        "communities": ["subc"],
        "categories": ["fire", "gas"],
        "min_severity": "major",
    }
    r = client.post("/api/v1/subscriptions", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["max_attempts"] == 10
    assert created["created_by"] == "sub-admin"
    (listed,) = client.get("/api/v1/subscriptions", headers=admin).json()
    assert "secret" not in listed
    assert listed["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}
    assert {k: listed[k] for k in ("url", "communities", "teams", "categories", "min_severity")} == {
        **body,
        "teams": None,
    }
    for bad in ({"url": "ftp://receiver.example/x"}, {"url": "file:///etc/passwd"}, {"url": "not a url"}):
        refused = client.post("/api/v1/subscriptions", json=bad, headers=admin)
        assert refused.status_code == 422, bad
        assert "url" in refused.json()["error"]["message"]
    empty = client.post(
        "/api/v1/subscriptions", json={"url": "http://x.example/", "teams": []}, headers=admin
    )
    assert empty.status_code == 422
    unknown = client.post(
        "/api/v1/subscriptions", json={"url": "http://x.example/", "categories": ["weather"]}, headers=admin
    )
    assert unknown.status_code == 422


def test_roles_and_ownership(client: TestClient) -> None:
    one, two, admin = (login(client, u) for u in ("sub-int", "sub-int2", "sub-admin"))
    for user in ("sub-op", "sub-mgr"):
        headers = login(client, user)
        assert client.get("/api/v1/subscriptions", headers=headers).status_code == 403
        assert (
            client.post("/api/v1/subscriptions", json={"url": "http://x/"}, headers=headers).status_code
            == 403
        )
    assert client.get("/api/v1/subscriptions").status_code == 401
    mine = client.post("/api/v1/subscriptions", json={"url": "http://int.example/"}, headers=one).json()
    client.post("/api/v1/subscriptions", json={"url": "http://admin.example/"}, headers=admin)
    assert [s["url"] for s in client.get("/api/v1/subscriptions", headers=one).json()] == [
        "http://int.example/"
    ]
    assert client.get("/api/v1/subscriptions", headers=two).json() == []
    assert len(client.get("/api/v1/subscriptions", headers=admin).json()) == 2
    assert client.delete(f"/api/v1/subscriptions/{mine['id']}", headers=two).status_code == 404
    assert client.get(f"/api/v1/subscriptions/{mine['id']}/deliveries", headers=two).status_code == 404
    assert client.delete(f"/api/v1/subscriptions/{mine['id']}", headers=one).status_code == 204
    assert client.get("/api/v1/subscriptions", headers=one).json() == []
    assert client.delete(f"/api/v1/subscriptions/{mine['id']}", headers=one).status_code == 404


def test_after_max_attempts_a_delivery_is_dead_and_listed(
    client: TestClient, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    integration = login(client, "sub-int")
    nobody_listens = f"http://127.0.0.1:{free_port()}/hook"
    r = client.post(
        "/api/v1/subscriptions",
        json={"url": nobody_listens, "communities": ["sub-dead"], "max_attempts": 3},
        headers=integration,
    )
    sid = r.json()["id"]
    case_id = add_case(conn, "sub-dead")
    event = add_event(conn, case_id)
    deliveries = f"/api/v1/subscriptions/{sid}/deliveries"
    with db.make_pool(database_url) as pool:
        drainer = Drainer(pool, notify_settings(database_url), publisher=None)
        attempts = drain_until(
            drainer,
            lambda: client.get(f"{deliveries}?status=dead", headers=integration).json() != [],
            timeout=10,
        )
        drainer.close()
    (dead,) = client.get(f"{deliveries}?status=dead", headers=integration).json()
    assert (dead["event_id"], dead["case_id"], dead["status"], dead["attempts"]) == (
        event,
        case_id,
        "dead",
        3,
    )
    assert attempts == 3, "the drainer handled this delivery's three attempts and nothing else"
    assert "unreachable" in dead["last_error"]
    assert dead["payload"]["community"] == "sub-dead"
    assert client.get(f"{deliveries}?status=pending", headers=integration).json() == []
    (listed,) = client.get("/api/v1/subscriptions", headers=integration).json()
    assert listed["deliveries"] == {"pending": 0, "delivered": 0, "dead": 1}
    assert client.get(f"{deliveries}?status=lost", headers=integration).status_code == 422
