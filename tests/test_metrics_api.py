"""`GET /metrics`: Prometheus text built from the hub's live IngestMetrics, behind a bearer token."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.cases import intake
from hub.cases.config import DispatchConfig
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind
from hub.ingest.metrics import IngestMetrics
from tests.support.api import app_client, login
from tests.support.factories import community, device, threshold_rule

USERS = {"met-admin": ("admin", ()), "met-integration": ("integration", ()), "met-operator": ("operator", ())}

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_HELP = re.compile(rf"^# HELP ({_NAME}) (.*)$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$")
_SAMPLE = re.compile(rf"^({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? (\S+)$")
_ONE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> tuple[dict[str, str], Samples]:
    """A strict reader of the text format 0.0.4: every line must be HELP, TYPE or a sample; each family
    is typed once, before its samples, and its lines are contiguous."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: Samples = {}
    finished: set[str] = set()
    current = None
    for line in text[:-1].split("\n"):
        if m := _HELP.match(line):
            family = m.group(1)
        elif m := _TYPE.match(line):
            family = m.group(1)
            assert family not in types, f"second TYPE for {family}"
            types[family] = m.group(2)
        elif m := _SAMPLE.match(line):
            family = m.group(1)
            assert family in types, f"sample before TYPE: {line}"
            labels = frozenset(
                (k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                for k, v in _ONE_LABEL.findall(m.group(2) or "")
            )
            assert (family, labels) not in samples, f"duplicate sample: {line}"
            samples[family, labels] = float(m.group(3))
        else:
            raise AssertionError(f"not a valid exposition line: {line!r}")
        if family != current:
            assert family not in finished, f"lines of {family} are not contiguous"
            if current is not None:
                finished.add(current)
            current = family
    return types, samples


@pytest.fixture
def metrics() -> IngestMetrics:
    return IngestMetrics(
        received=1234,
        stored=1180,
        duplicates=40,
        dead_lettered=14,
        dead_letter_reasons={"invalid": 10, "unregistered": 3, 'odd "reason"\\x': 1},
        batches=40,
        batch_rows_sum=1234,
        commit_seconds_sum=2.5,
        commit_seconds_max=0.375,
        db_errors=2,
        db_reconnects=3,
        broker_connects=2,
        alerts_opened=5,
        alerts_cleared=4,
        queue_depth=17,
    )


@pytest.fixture
def client(database_url: str, metrics: IngestMetrics) -> Iterator[TestClient]:
    with app_client(database_url, users=USERS, metrics=metrics) as c:
        yield c


def test_metrics_need_a_token_of_an_admin_or_an_integration(client: TestClient) -> None:
    anonymous = client.get("/metrics")
    operator = client.get("/metrics", headers=login(client, "met-operator"))

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert operator.status_code == 403
    assert operator.json()["error"]["message"] == "this needs one of the roles: admin, integration"
    for name in ("met-admin", "met-integration"):
        r = client.get("/metrics", headers=login(client, name))
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_are_served_at_the_root_for_prometheus(client: TestClient) -> None:
    assert client.get("/api/v1/metrics", headers=login(client, "met-admin")).status_code == 404


def alarms(conn: psycopg.Connection[tuple[object, ...]], n: int, at: datetime) -> str:
    """`n` detectors of a new community alarm at `at` (the hub's clock), each opening a case."""
    where = community(conn, "met")
    rule = threshold_rule(
        "met-smoke",
        kinds=["smoke_detector"],
        category="fire",
        severity="critical",
        when="alarm",
        team="met-fire",
    )
    with conn.transaction():
        for i in range(n):
            d = device(conn, where, f"sd{i}", DeviceKind.SMOKE_DETECTOR)
            intake.apply(conn, [AlertOpened(rule, d, d.id, at, at, {})], DispatchConfig(), at)
    return where


def test_the_exposition_carries_the_ingest_counters(
    client: TestClient, metrics: IngestMetrics, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    now = datetime.now(UTC)
    busy, earlier = alarms(conn, 3, now), alarms(conn, 2, now - timedelta(minutes=11))
    types, samples = parse_exposition(client.get("/metrics", headers=login(client, "met-admin")).text)

    def one(name: str) -> float:
        return samples[name, frozenset()]

    assert one("hub_ingest_messages_received_total") == 1234
    assert one("hub_ingest_messages_stored_total") == 1180
    assert one("hub_ingest_duplicates_dropped_total") == 40
    assert one("hub_ingest_batches_total") == 40
    assert one("hub_ingest_commit_seconds_total") == 2.5
    assert one("hub_alerts_opened_total") == 5
    assert one("hub_alerts_cleared_total") == 4
    assert one("hub_ingest_db_errors_total") == 2
    assert one("hub_ingest_db_connects_total") == 3
    assert one("hub_ingest_broker_connects_total") == 2
    assert one("hub_ingest_queue_depth") == 17
    assert one("hub_ingest_batch_size_avg") == pytest.approx(1234 / 40)
    assert one("hub_ingest_commit_seconds_avg") == pytest.approx(2.5 / 40)
    assert one("hub_ingest_commit_seconds_max") == 0.375
    reasons = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "hub_ingest_messages_dead_lettered_total"
    }
    assert reasons == metrics.dead_letter_reasons
    assert sum(reasons.values()) == metrics.dead_lettered
    assert samples["hub_alerts_opened_10m", frozenset({("community", busy)})] == 3
    assert samples["hub_cases_opened_10m", frozenset({("community", busy)})] == 3
    assert ("hub_alerts_opened_10m", frozenset({("community", earlier)})) not in samples, "11 minutes ago"
    assert {n for n, t in types.items() if t == "gauge"} == {
        "hub_ingest_queue_depth",
        "hub_ingest_batch_size_avg",
        "hub_ingest_commit_seconds_avg",
        "hub_ingest_commit_seconds_max",
        "hub_alerts_opened_10m",
        "hub_cases_opened_10m",
    }
    assert all(n.endswith("_total") for n, t in types.items() if t == "counter")
    assert {n for n, _ in samples} == set(types), "every typed family has samples"


def test_the_exposition_reads_the_live_counters(client: TestClient, metrics: IngestMetrics) -> None:
    headers = login(client, "met-integration")
    metrics.received += 6
    metrics.dead_letter_reasons["ts"] = 2

    _, samples = parse_exposition(client.get("/metrics", headers=headers).text)

    assert samples["hub_ingest_messages_received_total", frozenset()] == 1240
    assert samples["hub_ingest_messages_dead_lettered_total", frozenset({("reason", "ts")})] == 2


def test_before_the_first_batch_the_averages_are_zero(database_url: str) -> None:
    with app_client(database_url, users=USERS, metrics=IngestMetrics()) as c:
        types, samples = parse_exposition(c.get("/metrics", headers=login(c, "met-admin")).text)

    assert samples["hub_ingest_batch_size_avg", frozenset()] == 0
    assert samples["hub_ingest_commit_seconds_avg", frozenset()] == 0
    assert "hub_ingest_messages_dead_lettered_total" in types
    assert not [k for k in samples if k[0] == "hub_ingest_messages_dead_lettered_total"]


def test_an_api_without_ingest_has_no_metrics(database_url: str) -> None:
    with app_client(database_url, users=USERS) as c:
        anonymous = c.get("/metrics")
        r = c.get("/metrics", headers=login(c, "met-admin"))

    assert anonymous.status_code == 401
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "this process runs no ingest, so it has no metrics"
