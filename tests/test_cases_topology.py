"""Topology: devices behind a down parent (offline, or an open device_health/infrastructure alert) have
their alerts recorded but folded into the parent's case. The API that hangs devices under parents, the
rules on the real database, a parent's outage racing its children's alerts in concurrent transactions,
and a gateway outage through the real broker and hub making one case."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from hub.cases import intake, topology
from hub.cases.config import DispatchConfig, TopologyConfig
from hub.devices.service import register
from hub.domain.alerts import AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.engine.schema import Rule
from hub.store import cases as case_store
from hub.store import devices as device_store
from hub.store import topology as topology_store
from tests.support.api import app_client, login
from tests.support.factories import community, device, threshold_rule
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker

T0 = datetime(2023, 4, 3, 2, 0, tzinfo=UTC)
CFG = DispatchConfig(default_team="tp-desk", topology=TopologyConfig(team="tp-maint"))


def rule(rule_id: str, category: str, kind: str = "smoke_detector") -> Rule:
    return TypeAdapter(Rule).validate_python(
        {
            "type": "absence",
            "id": rule_id,
            "title": f"{rule_id} (test)",
            "kinds": [kind],
            "severity": "minor",
            "category": category,
            "period": "1m",
            "dispatch": {"team": "maintenance"},
        }
    )


def site(conn: psycopg.Connection[Any], children: int = 3) -> tuple[DeviceRef, list[DeviceRef]]:
    where = community(conn, "tp")
    gw = device(conn, where, "gw", DeviceKind.ACCESS_GATE)
    kids = [device(conn, where, f"sd{n}", DeviceKind.SMOKE_DETECTOR) for n in range(children)]
    for k in kids:
        topology_store.set_parent(conn, k.id, gw.id)
    return gw, kids


def opened(r: Rule, d: DeviceRef, at: datetime) -> AlertOpened:
    return AlertOpened(r, d, d.id, at, at, {"readings": []})


def test_an_offline_parent_takes_its_childrens_alerts_into_one_case(conn: psycopg.Connection[Any]) -> None:
    gw, kids = site(conn)
    silent = rule("tp-silent", "device_health")
    hour_before = T0 - timedelta(hours=1)  # long before the outage: a problem of its own, never folded
    assert (
        topology.suppress_into_parent(conn, opened(silent, kids[0], hour_before), CFG, hour_before) is None
    ), "parent up"
    own = intake.open_alert_case(conn, opened(silent, kids[0], hour_before), CFG, hour_before)
    device_store.record_seen(conn, [device_store.StateUpdate(gw.id, T0, 1, None, None, None)])
    device_store.set_offline(conn, [gw.id], T0 + timedelta(minutes=1), "last will")
    parent_cases = {
        topology.suppress_into_parent(
            conn, opened(silent, k, T0 + timedelta(minutes=2)), CFG, T0 + timedelta(minutes=2)
        )
        for k in kids[1:]
    }
    assert len(parent_cases) == 1
    [parent_case] = parent_cases
    assert parent_case is not None and parent_case != own
    case = case_store.get_case(conn, parent_case)
    assert case is not None
    assert (case["subject"], case["category"], case["team"], case["device_id"]) == (
        gw.id,
        "device_health",
        "tp-maint",
        gw.id,
    )
    assert case["history"][0]["note"] == f"parent {gw.id} is offline"
    assert [a["subject"] for a in case["alerts"]] == [k.id for k in kids[1:]]
    assert {a["suppressed_by"] for a in case["alerts"]} == {gw.id}
    assert [h["action"] for h in case["history"]].count("alert_suppressed") == 2
    assert conn.execute(
        "SELECT count(*) FROM cases WHERE device_id = ANY(%s)", ([k.id for k in kids[1:]],)
    ).fetchone() == (0,)
    # the parent's own alert joins the same case: one case for the outage
    joined = intake.open_alert_case(
        conn,
        opened(rule("tp-gw-silent", "device_health", "access_gate"), gw, T0 + timedelta(minutes=3)),
        CFG,
        T0 + timedelta(minutes=3),
    )
    assert joined == parent_case


def test_a_parent_with_an_open_outage_alert_is_down_even_while_online(conn: psycopg.Connection[Any]) -> None:
    gw, kids = site(conn, children=2)
    cabinet_case = intake.open_alert_case(
        conn, opened(rule("tp-cabinet", "infrastructure", "access_gate"), gw, T0), CFG, T0
    )
    assert cabinet_case is not None
    dark = rule("tp-dark", "lighting")
    assert (
        topology.suppress_into_parent(
            conn, opened(dark, kids[0], T0 + timedelta(seconds=5)), CFG, T0 + timedelta(seconds=5)
        )
        == cabinet_case
    )
    # life-safety alerts are never suppressed
    fire = rule("tp-fire", "fire")
    assert (
        topology.suppress_into_parent(
            conn, opened(fire, kids[1], T0 + timedelta(seconds=5)), CFG, T0 + timedelta(seconds=5)
        )
        is None
    )
    # a grandchild goes to the nearest down ancestor
    grandchild = DeviceRef(f"{gw.community}-sd9", DeviceKind.SMOKE_DETECTOR, gw.community, "b1", "g1")
    device_store.upsert_device(
        conn, device_store.NewDevice(grandchild.id, grandchild.kind, gw.community), None
    )
    topology_store.set_parent(conn, grandchild.id, kids[0].id)
    assert (
        topology.suppress_into_parent(
            conn, opened(dark, grandchild, T0 + timedelta(seconds=6)), CFG, T0 + timedelta(seconds=6)
        )
        == cabinet_case
    )


# -- a parent's outage racing its children's alerts ----------------------------------------------------------


def threshold(rule_id: str, category: str) -> Rule:
    return threshold_rule(
        rule_id,
        title=f"{rule_id} (test)",
        kinds=["smoke_detector", "access_gate"],
        severity="minor",
        category=category,
        when="battery_pct < 5",
        team="maintenance",
    )


CABINET = threshold("tp-cabinet-down", "infrastructure")
DARK = threshold("tp-lamp-dark", "lighting")
FIRE = threshold("tp-lamp-fire", "fire")
S = timedelta(seconds=1)


def in_own_transaction(
    database_url: str, a: AlertOpened, ready: Callable[[], object] = lambda: None
) -> int | None:
    """What ingest does with an opened alert (`dispatch.alert_opened`), in a transaction of its own."""
    with psycopg.connect(database_url, autocommit=True) as c:
        ready()
        with c.transaction():
            return intake.alert_opened(c, a, CFG, a.opened_at)


def cases_of(conn: psycopg.Connection[Any], community: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, device_id, category, status, cancel_reason, acknowledged_at FROM cases "
        "WHERE community_id = %s ORDER BY id",
        (community,),
    ).fetchall()


def assert_one_case_for_the_outage(
    conn: psycopg.Connection[Any], gw: DeviceRef, kids: list[DeviceRef], category: str
) -> int:
    """One live case, the parent's; every child's alert in it, suppressed by the parent; any case a child
    opened on its own was absorbed before anybody took it up — into the parent's case, or into a storm
    case of the children's alerts (more than the storm guard's limit at once) that the parent's took in."""
    rows = cases_of(conn, gw.community)
    live = [r for r in rows if r[3] != "cancelled"]
    assert [(r[1], r[2], r[3]) for r in live] == [(gw.id, category, "dispatched")], rows
    parent_case = int(live[0][0])
    by_parent = f"absorbed into case #{parent_case}: parent {gw.id} is down"
    storms = {r[0] for r in rows if r[1] is None and r[4] == by_parent}
    for _, device_id, _, status, reason, acknowledged in rows:
        if device_id != gw.id:
            assert (status, acknowledged) == ("cancelled", None)
            assert reason in {by_parent, *(f"absorbed into case #{s}: part of a storm" for s in storms)}
    linked = conn.execute(
        "SELECT a.subject, a.suppressed_by FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id "
        "WHERE ca.case_id = %s AND a.subject <> %s ORDER BY a.subject",
        (parent_case, gw.id),
    ).fetchall()
    assert linked == [(k.id, gw.id) for k in kids]
    return parent_case


def advisory_waiters(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()"
    ).fetchone()
    return 0 if row is None else int(row[0])


def test_children_alerting_while_the_outage_is_being_written_wait_for_it_and_open_nothing(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    gw, kids = site(conn, children=6)
    with (
        psycopg.connect(database_url, autocommit=True) as writer,
        ThreadPoolExecutor(len(kids)) as pool,
    ):
        with writer.transaction():
            parent_case = intake.alert_opened(writer, opened(CABINET, gw, T0), CFG, T0)
            children = [pool.submit(in_own_transaction, database_url, opened(DARK, k, T0 + S)) for k in kids]
            # every child's transaction is held up by the outage that is not committed yet
            waited = poll(lambda: advisory_waiters(conn) == len(kids), timeout=10)
        landed = [f.result(timeout=30) for f in children]
    assert waited, "the children's alerts did not wait for the parent's outage"
    assert landed == [parent_case] * len(kids)
    assert assert_one_case_for_the_outage(conn, gw, kids, "infrastructure") == parent_case
    assert conn.execute(
        "SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.device_id = ANY(%s) AND e.action = 'dispatched'",
        ([k.id for k in kids],),
    ).fetchone() == (0,), "no child was dispatched on its own"


def test_cases_children_opened_just_before_the_outage_are_folded_into_the_parents_case(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    gw, kids = site(conn, children=5)
    early, fire, taken, *raced = kids
    own_problem = in_own_transaction(database_url, opened(DARK, early, T0 - timedelta(hours=1)))
    life_safety = in_own_transaction(database_url, opened(FIRE, fire, T0 - 10 * S))
    busy = in_own_transaction(database_url, opened(DARK, taken, T0 - 10 * S))
    conn.execute("UPDATE cases SET status = 'acknowledged', acknowledged_at = %s WHERE id = %s", (T0, busy))
    first = [in_own_transaction(database_url, opened(DARK, k, T0 - 5 * S)) for k in raced]
    parent_case = in_own_transaction(database_url, opened(CABINET, gw, T0))
    assert parent_case is not None and parent_case not in first
    rows = {r[0]: r for r in cases_of(conn, gw.community)}
    assert [rows[c][3] for c in (own_problem, life_safety, busy)] == [
        "dispatched",
        "dispatched",
        "acknowledged",
    ]
    for c in first:
        assert (rows[c][3], rows[c][4]) == (
            "cancelled",
            f"absorbed into case #{parent_case}: parent {gw.id} is down",
        )
    case = case_store.get_case(conn, parent_case)
    assert case is not None
    assert sorted(a["subject"] for a in case["alerts"]) == sorted([gw.id, *(k.id for k in raced)])
    assert {a["suppressed_by"] for a in case["alerts"] if a["subject"] != gw.id} == {gw.id}
    assert [h["action"] for h in case["history"]].count("case_absorbed") == len(raced)
    absorbed_id = first[0]
    assert absorbed_id is not None
    absorbed = case_store.get_case(conn, absorbed_id)
    assert absorbed is not None and absorbed["history"][-1]["action"] == "absorbed"


@pytest.mark.parametrize("round_", range(4))
def test_an_outage_and_many_childrens_alerts_at_once_make_one_case(
    conn: psycopg.Connection[Any], database_url: str, round_: int
) -> None:
    gw, kids = site(conn, children=10)
    start = threading.Barrier(len(kids) + 1)
    alerts = [opened(CABINET, gw, T0)] + [opened(DARK, k, T0 + S) for k in kids]
    with ThreadPoolExecutor(len(alerts)) as pool:
        futures = [pool.submit(in_own_transaction, database_url, a, start.wait) for a in alerts]
        landed = [f.result(timeout=60) for f in futures]
    parent_case = assert_one_case_for_the_outage(conn, gw, kids, "infrastructure")
    assert landed[0] == parent_case


def test_many_children_behind_an_offline_parent_open_one_case_between_them(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    gw, kids = site(conn, children=10)
    device_store.record_seen(conn, [device_store.StateUpdate(gw.id, T0, 1, None, None, None)])
    device_store.set_offline(conn, [gw.id], T0 + S, "last will")
    start = threading.Barrier(len(kids))
    with ThreadPoolExecutor(len(kids)) as pool:
        futures = [
            pool.submit(in_own_transaction, database_url, opened(DARK, k, T0 + 2 * S), start.wait)
            for k in kids
        ]
        landed = {f.result(timeout=60) for f in futures}
    assert landed == {assert_one_case_for_the_outage(conn, gw, kids, "device_health")}


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """No routing file: the default team and SLA."""
    users = {"tp-admin": ("admin", ()), "tp-op": ("operator", ())}
    with app_client(database_url, users=users, routing_file=tmp_path_factory.mktemp("tp") / "none.yaml") as c:
        yield c


def test_hanging_devices_under_parents_through_the_api(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    gw, kids = site(conn, children=2)
    other, _ = site(conn, children=0)
    admin, op = login(client, "tp-admin"), login(client, "tp-op")

    def put(device: str, parent: str | None, headers: dict[str, str] = admin) -> Any:
        return client.put(f"/api/v1/devices/{device}/parent", json={"parent_id": parent}, headers=headers)

    r = put(kids[1].id, kids[0].id)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": kids[1].id,
        "parent_id": kids[0].id,
        "ancestors": [
            {"id": kids[0].id, "kind": "smoke_detector", "depth": 1, "online": True},
            {"id": gw.id, "kind": "access_gate", "depth": 2, "online": True},
        ],
        "children": [],
    }
    cycle = put(gw.id, kids[1].id)
    assert cycle.status_code == 409
    assert (
        cycle.json()["error"]["message"]
        == f"that would make a cycle: {gw.id} → {kids[1].id} → {kids[0].id} → {gw.id}"
    )
    assert put(gw.id, gw.id).status_code == 409
    assert put(kids[0].id, other.id).status_code == 422
    assert put(kids[0].id, "no-such-device").status_code == 422
    assert put("no-such-device", gw.id).status_code == 404
    assert put(kids[1].id, None, op).status_code == 403
    assert put(kids[1].id, None).json()["parent_id"] is None
    topo = client.get(f"/api/v1/devices/{gw.id}/topology", headers=op).json()
    assert topo["children"] == [kids[0].id]


LOADGEN = "loadgen-topology-pw"
RULES = """
rules:
  - id: tp-live-silent
    type: absence
    title: Device silent (topology test)
    kinds: [smoke_detector, access_gate]
    devices: [tpl-gw, tpl-sd0, tpl-sd1, tpl-sd2]
    period: 4s
    severity: minor
    category: device_health
    dispatch: {team: maintenance}
"""


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "topology.yaml").write_text(RULES)
    h = HubProcess(
        database_url, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN, HUB_RULES_DIR=str(rules)
    )
    yield h
    h.stop()


def test_a_gateway_outage_yields_one_case_not_one_per_child(hub: HubProcess, database_url: str) -> None:
    kids = ["tpl-sd0", "tpl-sd1", "tpl-sd2"]
    with psycopg.connect(database_url, autocommit=True) as c:
        register(
            c,
            [{"id": "tpl-gw", "kind": "access_gate", "community": "tpl", "building": "b1"}]
            + [{"id": k, "kind": "smoke_detector", "community": "tpl", "building": "b1"} for k in kids],
        )
        for k in kids:
            topology_store.set_parent(c, k, "tpl-gw")
    hub.start()
    port = int(hub.env["HUB_MQTT_PORT"])
    gw_status = "sc/v1/tpl/access_gate/tpl-gw/status"
    gateway = Publisher(
        port, "loadgen", LOADGEN, client_id="tpl-gw", will=(gw_status, '{"state": "offline"}')
    )
    fleet = Publisher(port, "loadgen", LOADGEN)
    now = datetime.now(UTC)
    gateway.publish(
        "sc/v1/tpl/access_gate/tpl-gw/telemetry",
        {"device_id": "tpl-gw", "ts": now.isoformat(), "seq": 1, "door_open": False},
    ).wait_for_publish(5)
    for k in kids:
        fleet.publish(f"sc/v1/tpl/smoke_detector/{k}/telemetry", smoke(k, 1, at=now)).wait_for_publish(5)
    fleet.close()

    def state(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as c:
            return c.execute(sql).fetchall()

    assert poll(
        lambda: state("SELECT online FROM device_state WHERE device_id = 'tpl-gw'") == [(True,)], timeout=10
    )
    gateway.drop()  # the gateway loses power: the broker publishes its Last Will
    assert poll(
        lambda: state("SELECT online FROM device_state WHERE device_id = 'tpl-gw'") == [(False,)], timeout=10
    )
    alerts = "SELECT subject, suppressed_by FROM alerts WHERE rule_id = 'tp-live-silent' ORDER BY subject"
    assert poll(lambda: len(state(alerts)) == 4, timeout=20), hub.log()
    assert state(alerts) == [
        ("tpl-gw", None),
        ("tpl-sd0", "tpl-gw"),
        ("tpl-sd1", "tpl-gw"),
        ("tpl-sd2", "tpl-gw"),
    ]
    cases = state("SELECT id, subject, category, status FROM cases WHERE community_id = 'tpl'")
    assert len(cases) == 1, cases
    case_id, subject, category, status = cases[0]
    assert (subject, category, status) == ("tpl-gw", "device_health", "dispatched")
    linked = state(
        "SELECT a.subject FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id "
        f"WHERE ca.case_id = {int(case_id)} ORDER BY a.subject"
    )
    assert [s for (s,) in linked] == ["tpl-gw", *kids]
