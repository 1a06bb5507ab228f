"""The admin console's API for silences, webhooks, job runs and health (in-process app, real database):
silences listed in force, to come and recently ended, ended early with who ended them; a signed test
notification delivered to a real receiver, a dead one when the receiver is down and its retry; every
scheduled job run recorded with its outcome; and one health answer with rates, leases, workers, jobs and
dead letters. Every write is audited, and roles are enforced."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from hub.api.app import create_app
from hub.cases import intake
from hub.cases.config import DispatchConfig
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind
from hub.domain.health import RatePoint, WorkerState
from hub.ingest.metrics import IngestMetrics, RateMeter
from hub.jobs import runs
from hub.jobs.maintenance import RetentionPolicy, run_retention
from hub.notify.drainer import Drainer
from hub.notify.webhook import sign
from hub.settings import Settings
from hub.store import db, deadletters, users
from hub.store import devices as device_store
from hub.store import silences as silence_store
from tests.support.factories import community, device, threshold_rule
from tests.support.notify import Receiver, notify_settings
from tests.support.processes import poll
from tests.support.services import free_port

API = "/api/v1"
ROLES = {
    "ops-admin": "admin",
    "ops-op": "operator",
    "ops-mgr": "manager",
    "ops-int": "integration",
    "ops-res": "resident",
}
JOB = "ops-test-job"
NOW = datetime.now(UTC)
HERE = WorkerState(
    worker="ops-worker",
    ingest="subscribed",
    sessions={0: True},
    rates=[RatePoint(NOW, 12.0, 11.5, 0.5)],
    next_runs={JOB: NOW + timedelta(seconds=30)},
)


@pytest.fixture(scope="module")
def pool(database_url: str) -> Iterator[ConnectionPool]:
    p = db.make_pool(database_url)
    yield p
    with p.connection() as conn:
        conn.execute(
            "DELETE FROM notification_subscriptions s USING users u WHERE u.id = s.created_by AND u.username = ANY(%s)",
            (list(ROLES),),
        )
    p.close()


@pytest.fixture(scope="module")
def tokens(pool: ConnectionPool) -> dict[str, dict[str, str]]:
    out = {}
    with pool.connection() as conn:
        device_store.ensure_community(conn, "ops-c", "Ops Court")
        for name, role in ROLES.items():
            user_id = users.upsert_user(conn, name, "ops-pw", role, ["ops-c"] if role == "manager" else None)
            out[name] = {"Authorization": f"Bearer {users.create_session(conn, user_id, 3600)[0]}"}
    return out


@pytest.fixture(scope="module")
def metrics() -> IngestMetrics:
    return IngestMetrics(
        received=40, stored=38, dead_lettered=2, dead_letter_reasons={"invalid": 2}, batches=4
    )


@pytest.fixture(scope="module")
def client(
    pool: ConnectionPool, metrics: IngestMetrics, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, environment="test", mqtt_auth_dir=tmp_path_factory.mktemp("auth")
    )
    with TestClient(create_app(settings, pool, metrics=metrics, worker_state=lambda: HERE)) as c:
        yield c


def audited(pool: ConnectionPool, action: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT actor, target_id, community_id, outcome, details FROM audit_log WHERE action = %s ORDER BY id",
            (action,),
        ).fetchall()


# -- silences -----------------------------------------------------------------------------------------


def test_silences_in_force_to_come_and_ended_early_with_who_ended_them(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool
) -> None:
    operator = tokens["ops-op"]
    rule = f"ops-rule-{uuid.uuid4().hex[:6]}"
    base = {"rule_id": rule, "community_id": "ops-c", "reason": "pump replacement"}
    now = client.post(
        f"{API}/silences", json={**base, "ends_at": (NOW + timedelta(hours=4)).isoformat()}, headers=operator
    )
    assert now.status_code == 201, now.text
    later_start = datetime.now(UTC) + timedelta(days=1)
    later = client.post(
        f"{API}/silences",
        json={
            **base,
            "starts_at": later_start.isoformat(),
            "ends_at": (later_start + timedelta(hours=2)).isoformat(),
        },
        headers=operator,
    )
    assert (now.json()["state"], later.json()["state"]) == ("active", "scheduled")

    def listed(**params: Any) -> dict[int, dict[str, Any]]:
        r = client.get(f"{API}/silences", params=params, headers=operator)
        assert r.status_code == 200, r.text
        return {s["id"]: s for s in r.json() if s["rule_id"] == rule}

    assert list(listed()) == [now.json()["id"]], "without recent_days: in force now only"
    assert client.delete(f"{API}/silences/{now.json()['id']}", headers=operator).status_code == 204
    assert (
        client.delete(f"{API}/silences/{later.json()['id']}", headers=tokens["ops-admin"]).status_code == 204
    )
    assert client.delete(f"{API}/silences/{now.json()['id']}", headers=operator).status_code == 404

    recent = listed(recent_days=7)
    assert {k: (v["state"], v["ended_by"]) for k, v in recent.items()} == {
        now.json()["id"]: ("ended", "ops-op"),
        later.json()["id"]: ("ended", "ops-admin"),
    }
    assert listed() == {}
    with pool.connection() as conn:
        covering = silence_store.matching(
            conn,
            rule_id=rule,
            device_id="x",
            community_id="ops-c",
            building=None,
            at=later_start + timedelta(hours=1),
        )
    assert covering is None, "a silence ended before it started covers nothing"
    created = audited(pool, "silence.create")[-2:]
    assert [(r[0], r[1], r[2], r[3]) for r in created] == [
        ("ops-op", str(now.json()["id"]), "ops-c", 201),
        ("ops-op", str(later.json()["id"]), "ops-c", 201),
    ]
    assert created[0][4]["rule_id"] == rule and "reason" not in created[0][4]
    ended = [r[:4] for r in audited(pool, "silence.end")[-3:]]
    assert ended == [
        ("ops-op", str(now.json()["id"]), "ops-c", 204),
        ("ops-admin", str(later.json()["id"]), "ops-c", 204),
        ("ops-op", str(now.json()["id"]), "ops-c", 404),
    ]


def test_managers_read_silences_but_may_not_create_or_end_them(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool
) -> None:
    body = {"community_id": "ops-c", "reason": "works", "ends_at": (NOW + timedelta(hours=1)).isoformat()}
    assert client.post(f"{API}/silences", json=body, headers=tokens["ops-mgr"]).status_code == 403
    assert audited(pool, "silence.create")[-1][0::3] == ("ops-mgr", 403)
    assert (
        client.get(f"{API}/silences", params={"recent_days": 7}, headers=tokens["ops-mgr"]).status_code == 200
    )
    assert (
        client.get(f"{API}/silences", params={"recent_days": 91}, headers=tokens["ops-mgr"]).status_code
        == 422
    )


# -- webhooks -----------------------------------------------------------------------------------------


def drain(database_url: str, pool: ConnectionPool, done: Any) -> Any:
    drainer = Drainer(pool, notify_settings(database_url), publisher=None)
    try:
        return poll(lambda: drainer.drain_once() >= 0 and done(), timeout=10)
    finally:
        drainer.close()


def test_a_test_notification_is_signed_delivered_and_shown(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool, database_url: str
) -> None:
    admin = tokens["ops-admin"]
    receiver = Receiver()
    receiver.start()
    try:
        created = client.post(f"{API}/subscriptions", json={"url": receiver.url}, headers=admin).json()
        sid = created["id"]
        r = client.post(f"{API}/subscriptions/{sid}/test", headers=admin)
        assert r.status_code == 202, r.text
        queued = r.json()
        assert (queued["test"], queued["status"], queued["case_id"], queued["event_id"]) == (
            True,
            "pending",
            None,
            None,
        )

        def delivered() -> dict[str, Any] | None:
            d = client.get(f"{API}/subscriptions/{sid}/deliveries/{queued['id']}", headers=admin).json()
            return d if d["status"] == "delivered" else None

        assert drain(database_url, pool, delivered)
        ((headers, body),) = receiver.requests
    finally:
        receiver.stop()
    assert headers["X-Hub-Event-Id"] == f"test-{queued['id']}"
    assert headers["X-Hub-Signature"] == sign(created["secret"], headers["X-Hub-Timestamp"], body)
    payload = json.loads(body)
    assert (payload["test"], payload["action"], payload["subscription_id"]) == (True, "test", sid)
    (listed,) = [s for s in client.get(f"{API}/subscriptions", headers=admin).json() if s["id"] == sid]
    assert (listed["deliveries"]["delivered"], listed["last_error"]) == (1, None)
    assert audited(pool, "subscription.test")[-1][:4] == ("ops-admin", str(sid), None, 202)
    assert audited(pool, "subscription.create")[-1][4] == {"host": "127.0.0.1"}


def test_a_test_to_a_receiver_that_is_down_is_dead_at_once_listed_and_retried(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool, database_url: str
) -> None:
    admin = tokens["ops-admin"]
    receiver = Receiver()  # not started: nobody listens on its port yet
    sid = client.post(
        f"{API}/subscriptions", json={"url": receiver.url, "max_attempts": 10}, headers=admin
    ).json()["id"]
    test_id = client.post(f"{API}/subscriptions/{sid}/test", headers=admin).json()["id"]
    deliveries = f"{API}/subscriptions/{sid}/deliveries"

    assert drain(
        database_url, pool, lambda: client.get(deliveries, params={"status": "dead"}, headers=admin).json()
    )
    (dead,) = client.get(deliveries, params={"status": "dead"}, headers=admin).json()
    assert (dead["id"], dead["attempts"], dead["test"]) == (test_id, 1, True), "a test is tried once"
    assert "unreachable" in dead["last_error"]
    (listed,) = [s for s in client.get(f"{API}/subscriptions", headers=admin).json() if s["id"] == sid]
    assert listed["deliveries"]["dead"] == 1
    assert listed["last_error"]["delivery_id"] == test_id and "unreachable" in listed["last_error"]["error"]

    receiver.start()
    try:
        retried = client.post(f"{deliveries}/{test_id}/retry", headers=admin)
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
        again = client.post(f"{deliveries}/{test_id}/retry", headers=admin)
        assert again.status_code == 409 and "only a dead delivery" in again.json()["error"]["message"]
        assert drain(
            database_url,
            pool,
            lambda: client.get(f"{deliveries}/{test_id}", headers=admin).json()["status"] == "delivered",
        )
    finally:
        receiver.stop()
    assert [h["X-Hub-Event-Id"] for h, _ in receiver.requests] == [f"test-{test_id}"]
    assert [r[3] for r in audited(pool, "subscription.retry")[-2:]] == [200, 409]


def test_another_integrations_subscription_cannot_be_tested_or_retried(
    client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    sid = client.post(
        f"{API}/subscriptions", json={"url": f"http://127.0.0.1:{free_port()}/x"}, headers=tokens["ops-admin"]
    ).json()["id"]
    assert client.post(f"{API}/subscriptions/{sid}/test", headers=tokens["ops-int"]).status_code == 404
    assert client.post(f"{API}/subscriptions/{sid}/test", headers=tokens["ops-op"]).status_code == 403
    assert (
        client.post(f"{API}/subscriptions/{sid}/deliveries/1/retry", headers=tokens["ops-admin"]).status_code
        == 404
    )


def test_every_admin_write_route_is_audited(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool
) -> None:
    """A new rule, silence or webhook route that forgets the audit dependency fails here: a resident is
    refused by each, and each refusal must leave a row. Checks and backtests change nothing."""
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    writes = [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path.startswith((f"{API}/rules/files", f"{API}/silences", f"{API}/subscriptions"))
        and method in ("post", "put", "patch", "delete")
        and not path.endswith(("/check", "/backtest"))
    ]
    assert len(writes) == 8
    with pool.connection() as conn:
        before = conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'ops-res'").fetchone()
    for n, (method, route) in enumerate(writes, start=1):
        path = re.sub(r"\{[a-z_]+_id\}", "1", route).replace("{name}", "alpha.yaml")
        r = client.request(method, path, json={}, headers=tokens["ops-res"])
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT outcome FROM audit_log WHERE actor = 'ops-res' ORDER BY id DESC LIMIT 1"
            ).fetchall()
            count = conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'ops-res'").fetchone()
        assert before is not None and count == (before[0] + n,), f"{method} {path} wrote no audit row"
        assert rows == [(r.status_code,)], path


# -- job runs and health ------------------------------------------------------------------------------


def run_job(pool: ConnectionPool, outcome: dict[str, int] | None) -> None:
    runs.recorded(pool, "ops-worker", JOB, lambda: outcome)()


def test_every_job_run_is_recorded_with_its_outcome(pool: ConnectionPool) -> None:
    def failing() -> dict[str, int] | None:
        raise RuntimeError("database gone")

    run_job(pool, {"went_offline": 3})
    run_job(pool, None)
    with pytest.raises(RuntimeError, match="database gone"):  # the scheduler still logs the failure
        runs.recorded(pool, "ops-worker", JOB, failing)()
    with pool.connection() as conn:
        recorded = conn.execute(
            "SELECT outcome, done, error, worker_id, finished_at >= started_at FROM job_runs WHERE job = %s "
            "ORDER BY id DESC LIMIT 3",
            (JOB,),
        ).fetchall()
    assert recorded[::-1] == [
        ("ok", {"went_offline": 3}, None, "ops-worker", True),
        ("skipped", {}, None, "ops-worker", True),
        ("failed", {}, "RuntimeError: database gone", "ops-worker", True),
    ]


def test_retention_removes_old_job_runs(pool: ConnectionPool, conn: psycopg.Connection[Any]) -> None:
    old = conn.execute(
        "INSERT INTO job_runs (job, worker_id, started_at, finished_at, outcome) "
        "VALUES ('ops-old', 'w', now() - interval '8 days', now() - interval '8 days', 'ok') RETURNING id"
    ).fetchone()
    assert old is not None
    done = run_retention(conn, RetentionPolicy.from_settings(Settings(environment="test")), datetime.now(UTC))
    assert done is not None and done["job_runs"] >= 1
    assert conn.execute("SELECT count(*) FROM job_runs WHERE id = %s", (old[0],)).fetchone() == (0,)


def test_the_health_answer_counts_new_alerts_and_cases_per_community_against_the_flood_line(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    fire = threshold_rule(
        "ops-smoke",
        kinds=["smoke_detector"],
        category="fire",
        severity="critical",
        when="alarm",
        team="ops-fire",
    )
    now = datetime.now(UTC)
    counts = {}
    for n in (11, 2):
        where = community(conn, "ops-flood")
        with conn.transaction():
            for i in range(n):
                d = device(conn, where, f"sd{i}", DeviceKind.SMOKE_DETECTOR)
                intake.apply(conn, [AlertOpened(fire, d, d.id, now, now, {})], DispatchConfig(), now)
        counts[where] = n

    r = client.get(f"{API}/admin/health", headers=tokens["ops-op"])
    assert r.status_code == 200, r.text
    floods = r.json()["floods"]
    rows = {c["community"]: c for c in floods["communities"] if c["community"] in counts}

    assert (floods["window_s"], floods["flood_above"]) == (600, 10)
    assert {w: (c["alerts"], c["cases"], c["flood"]) for w, c in rows.items()} == {
        w: (n, n, n > 10) for w, n in counts.items()
    }


def test_the_health_answer_has_rates_leases_workers_jobs_and_dead_letters(
    client: TestClient, tokens: dict[str, dict[str, str]], pool: ConnectionPool, conn: psycopg.Connection[Any]
) -> None:
    conn.execute(
        "INSERT INTO ingest_workers (worker_id, heartbeat_at) VALUES ('ops-worker', now()), "
        "('ops-gone', now() - interval '1 hour') ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at"
    )
    conn.execute(
        "INSERT INTO ingest_partitions (partition, owner, lease_until) VALUES (900, 'ops-worker', now() + interval '10 s'), "
        "(901, 'ops-gone', now() - interval '1 minute') ON CONFLICT (partition) DO UPDATE SET "
        "owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until"
    )
    deadletters.insert(
        conn,
        [deadletters.DeadLetter(datetime.now(UTC), "sc/v1/x", "c", "unregistered device 'ops-x'", b"{}", 2)],
    )
    run_job(pool, {"escalated": 2})
    run_job(pool, None)

    r = client.get(f"{API}/admin/health", headers=tokens["ops-op"])
    assert r.status_code == 200, r.text
    health = r.json()
    conn.execute("DELETE FROM ingest_partitions WHERE partition >= 900")
    conn.execute("DELETE FROM ingest_workers WHERE worker_id LIKE 'ops-%'")

    assert health["worker"] == "ops-worker"
    assert health["ingest"]["state"] == "subscribed"
    assert health["ingest"]["sessions"] == [{"partition": 0, "subscribed": True}]
    assert health["ingest"]["counters"]["stored"] == 38
    assert health["ingest"]["counters"]["dead_letter_reasons"] == {"invalid": 2}
    assert health["ingest"]["rates"][0]["stored_per_s"] == 11.5
    leases = {p["partition"]: p for p in health["partitions"]}
    assert (leases[900]["owner"], leases[900]["expired"], leases[901]["expired"]) == (
        "ops-worker",
        False,
        True,
    )
    workers = {w["worker_id"]: w for w in health["workers"]}
    assert (workers["ops-worker"]["alive"], workers["ops-worker"]["partitions"]) == (True, [900])
    assert (workers["ops-gone"]["alive"], workers["ops-gone"]["partitions"]) == (False, [])
    unregistered = next(d for d in health["dead_letters"] if d["reason"] == "unregistered")
    assert unregistered["count"] >= 1 and unregistered["latest"] == "unregistered device 'ops-x'"
    (job,) = health["jobs"]
    assert job["job"] == JOB
    assert (job["last"]["outcome"], job["last"]["done"]) == ("ok", {"escalated": 2})
    assert job["runs"]["skipped"] >= 1 and job["next_run_at"] is not None
    assert health["job_runs"][0]["outcome"] != "skipped"
    assert health["database"]["latency_ms"] >= 0 and health["database"]["pool"]["pool_max"] == 8
    assert health["database"]["standby"] is None, "no HUB_DATABASE_READ_URL: every read on the primary"

    assert client.get(f"{API}/admin/health", headers=tokens["ops-admin"]).status_code == 200
    assert client.get(f"{API}/admin/health", headers=tokens["ops-mgr"]).status_code == 403


def test_rates_are_the_counters_difference_over_the_time_between_samples() -> None:
    metrics = IngestMetrics()
    meter = RateMeter(metrics, keep=3)
    meter.sample()
    metrics.received, metrics.stored = 300, 200
    time.sleep(0.2)
    meter.sample()
    (point,) = meter.series()
    assert 0 < point.stored_per_s <= 200 / 0.2
    assert point.received_per_s == pytest.approx(point.stored_per_s * 1.5)
    for _ in range(3):
        meter.sample()
    assert len(meter.series()) == 2, "only the last `keep` samples"
