"""Log-in rate limiting and response hardening through the API (in-process app, real database), and
the hub's own log checked for secrets (separate hub process)."""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.api.ratelimit import ADDRESS_LIMIT, USER_LIMIT, WINDOW_S, LoginLimiter
from hub.settings import Settings
from hub.store import db
from hub.store.users import upsert_user
from tests.support.processes import HubProcess
from tests.support.services import ROOT, Broker

LOGIN = "/api/v1/auth/login"
USERS = {"rl-alice": "alice-pw-4f9d", "rl-bob": "bob-pw-77c1", "rl-carol": "carol-pw-0e2a"}
SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app(database_url: str) -> Iterator[FastAPI]:
    settings = Settings(
        database_url=database_url, environment="test", dashboard_dir=ROOT / "dashboards" / "web"
    )
    pool = db.make_pool(database_url)
    with pool.connection() as conn:
        for name, password in USERS.items():
            upsert_user(conn, name, password, "operator")
    yield create_app(settings, pool)
    pool.close()


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """A fresh limiter per test, on a clock the test moves."""
    c = Clock()
    app.state.login_limiter = LoginLimiter(clock=c)
    return c


@pytest.fixture
def client(app: FastAPI, clock: Clock) -> Iterator[TestClient]:
    with TestClient(app, client=("192.0.2.10", 40000)) as c:
        yield c


def from_address(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def attempt(client: TestClient, user: str, password: str) -> httpx.Response:
    # Starlette types TestClient against httpx2, which is not installed, so its methods return Any here.
    response: httpx.Response = client.post(LOGIN, json={"username": user, "password": password})
    return response


def assert_limited(r: httpx.Response, where: str) -> None:
    assert r.status_code == 429, r.text
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= WINDOW_S
    message = r.json()["error"]["message"]
    assert where in message and f"try again in {retry} s" in message, message


def test_a_username_is_locked_after_five_failures_even_for_the_right_password(
    app: FastAPI, client: TestClient, clock: Clock
) -> None:
    for i in range(USER_LIMIT):
        clock.now += 10
        assert attempt(client, "rl-alice", f"guess-{i}").status_code == 401
    locked = attempt(client, "rl-alice", USERS["rl-alice"])
    assert_limited(locked, "for this username")
    assert int(locked.headers["retry-after"]) == WINDOW_S - 40, "until the oldest failure leaves the window"
    assert "access_token" not in locked.text
    # the lock is per username, whatever the address, and only for that username
    assert_limited(attempt(from_address(app, "198.51.100.7"), "rl-alice", "x"), "for this username")
    assert_limited(attempt(client, "RL-Alice ", "x"), "for this username")
    assert attempt(client, "rl-bob", USERS["rl-bob"]).status_code == 200
    # the window slides: once the oldest failure is older than five minutes, one more try is allowed
    clock.now += WINDOW_S - 40
    assert attempt(client, "rl-alice", USERS["rl-alice"]).status_code == 200


def test_a_success_clears_the_usernames_failures(client: TestClient) -> None:
    for _ in range(USER_LIMIT - 1):
        assert attempt(client, "rl-bob", "nope").status_code == 401
    assert attempt(client, "rl-bob", USERS["rl-bob"]).status_code == 200
    for _ in range(USER_LIMIT - 1):
        assert attempt(client, "rl-bob", "nope").status_code == 401
    assert attempt(client, "rl-bob", USERS["rl-bob"]).status_code == 200


def test_an_address_is_limited_across_usernames_and_a_success_does_not_reset_it(
    app: FastAPI, client: TestClient, clock: Clock
) -> None:
    failures = 0
    for n in range(ADDRESS_LIMIT - 1):  # spread over usernames, none reaching its own limit
        assert attempt(client, f"rl-spray-{n % 5}-{n // 5}", "x").status_code == 401
        failures += 1
    assert attempt(client, "rl-carol", USERS["rl-carol"]).status_code == 200, "own account, right password"
    assert attempt(client, "rl-spray-last", "x").status_code == 401
    failures += 1
    assert failures == ADDRESS_LIMIT
    assert_limited(attempt(client, "rl-carol", USERS["rl-carol"]), "from your address")
    assert_limited(attempt(client, "rl-never-seen", "x"), "from your address")
    # other addresses are not affected, and the address recovers when its window has passed
    assert attempt(from_address(app, "198.51.100.8"), "rl-carol", USERS["rl-carol"]).status_code == 200
    clock.now += WINDOW_S + 1
    assert attempt(client, "rl-carol", USERS["rl-carol"]).status_code == 200


def test_parallel_guesses_do_not_slip_past_the_limit(client: TestClient) -> None:
    codes: list[int] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        code = attempt(client, "rl-carol", f"parallel-{i}").status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(set(codes)) == [401, 429]
    assert codes.count(401) == USER_LIMIT, codes


def test_the_token_response_is_not_cacheable(client: TestClient) -> None:
    r = attempt(client, "rl-alice", USERS["rl-alice"])
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/health", 200),
        ("GET", "/api/v1/auth/me", 401),
        ("GET", "/api/v1/cases", 401),
        ("POST", LOGIN, 422),
        ("GET", "/api/v1/no-such-route", 404),
        ("GET", "/api/v1/openapi.json", 200),
        ("GET", "/metrics", 401),
        ("GET", "/", 200),
        ("GET", "/static/app.js", 200),
        ("GET", "/static/app.css", 200),
        ("GET", "/static/missing.js", 404),
    ],
)
def test_api_and_dashboard_responses_carry_the_safe_headers(
    client: TestClient, method: str, path: str, expected: int
) -> None:
    r = client.request(method, path)
    assert r.status_code == expected, r.text
    for name, value in SAFE_HEADERS.items():
        assert r.headers.get(name) == value, (path, name, r.headers)
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, (path, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_safe_headers_also_on_refusals_with_headers_of_their_own(client: TestClient) -> None:
    for _ in range(USER_LIMIT):
        attempt(client, "rl-carol", "wrong")
    r = attempt(client, "rl-carol", "wrong")
    assert r.status_code == 429
    for name, value in SAFE_HEADERS.items():
        assert r.headers.get(name) == value
    assert "content-security-policy" in r.headers


# -- the hub's log --------------------------------------------------------------------------------------


def test_passwords_and_tokens_never_reach_the_hubs_log(
    database_url: str, broker: Broker, tmp_path: Path
) -> None:
    admin_pw = "admin-secret-9b1e3c"
    wrong_pw = "wrong-secret-5d2f8a"
    hub = HubProcess(database_url, broker, tmp_path, HUB_ADMIN_PASSWORD=admin_pw)
    hub.start()
    secrets: list[str] = [admin_pw, wrong_pw, hub.mqtt_password]
    try:
        headers = hub.login("admin", admin_pw)
        token = headers["Authorization"].removeprefix("Bearer ")
        secrets.append(token)
        api = f"{hub.url}/api/v1"
        assert httpx.get(f"{api}/auth/me", headers=headers).status_code == 200
        created = httpx.post(
            f"{api}/devices",
            json={"id": "log-sd1", "kind": "smoke_detector", "community": "logc"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        secrets.append(created.json()["mqtt_password"])
        # someone typing the password into the username field, then a lock-out
        for _ in range(USER_LIMIT):
            r = httpx.post(f"{api}/auth/login", json={"username": wrong_pw, "password": wrong_pw})
            assert r.status_code == 401
        assert (
            httpx.post(f"{api}/auth/login", json={"username": wrong_pw, "password": admin_pw}).status_code
            == 429
        )
        bad_token = httpx.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {wrong_pw}"})
        assert bad_token.status_code == 401
        assert httpx.get(f"{api}/events/stream?access_token={wrong_pw}", timeout=5).status_code == 401
    finally:
        hub.stop()
    log = hub.log_path.read_text(errors="replace")
    assert "log-in refused from 127.0.0.1" in log, "the lock-out is logged, so the log was read at all"
    leaked = [s for s in secrets if s in log]
    assert leaked == [], f"secrets in the hub's log: {leaked}\n{hub.log()}"
    assert "Bearer " not in log
