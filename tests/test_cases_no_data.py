"""Missing data is not recovery. The pure engine: a clear hold does not run across a gap in the readings,
a reading without the metric a clear condition reads does not clear, time passing clears nothing. The
database: silent devices freeze their open alerts (`no_data`) and readings thaw them, with the case
history saying so. Through the real broker and hub: a silent device and a device's Last Will freeze
its alert, a reading brings it back, only a clearing reading clears it, and the case cannot be closed
while its alert has no data."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.cases import data_gaps, intake
from hub.cases.config import DispatchConfig
from hub.devices.service import register
from hub.domain.alerts import AlertCleared, AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine
from hub.engine.schema import RuleFile
from hub.store import cases as case_store
from hub.store.users import upsert_user
from tests.support.api import app_client, login
from tests.support.factories import community, device
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
SD = DeviceRef("nd-sd", DeviceKind.SMOKE_DETECTOR, "ndc", "b1", "g1")
LAMP = DeviceRef("nd-lp", DeviceKind.LAMPPOST, "ndc", None, "g1")


def engine(*rules: dict[str, Any], gap: float | None = 300.0) -> Engine:
    base = {"severity": "major", "category": "fire", "dispatch": {"team": "t"}, "title": "t"}
    return Engine(RuleFile.model_validate({"rules": [base | r for r in rules]}).rules, data_gap_s=gap)


SMOKE = {
    "id": "nd-smoke",
    "type": "threshold",
    "kinds": ["smoke_detector"],
    "when": "smoke_obscuration_pct_per_m >= 3",
    "clear_when": "smoke_obscuration_pct_per_m < 1",
    "clear_for": "60s",
}


def run(e: Engine, device: DeviceRef, at: datetime, **values: Any) -> list[Any]:
    ev = e.evaluate([Reading(device, at, values)])
    e.commit(ev)
    return ev.transitions


def test_a_clear_hold_does_not_run_across_a_gap_in_the_readings() -> None:
    for gap, clears_at in ((300.0, 661), (None, 600)):
        e = engine(SMOKE, gap=gap)
        assert isinstance(run(e, SD, T0, smoke_obscuration_pct_per_m=5.0)[0], AlertOpened)
        assert run(e, SD, T0 + timedelta(seconds=1), smoke_obscuration_pct_per_m=0.2) == []
        # ten minutes of silence, then a clear reading: with the gap rule the hold starts again
        transitions = run(e, SD, T0 + timedelta(seconds=600), smoke_obscuration_pct_per_m=0.2)
        if clears_at == 600:
            assert isinstance(transitions[0], AlertCleared), (
                "without a gap limit the silence counted as normal"
            )
            continue
        assert transitions == []
        assert run(e, SD, T0 + timedelta(seconds=630), smoke_obscuration_pct_per_m=0.2) == []
        cleared = run(e, SD, T0 + timedelta(seconds=661), smoke_obscuration_pct_per_m=0.2)
        assert isinstance(cleared[0], AlertCleared)
        assert cleared[0].reason.startswith(
            f"smoke_obscuration_pct_per_m < 1 held from {(T0 + timedelta(seconds=600)).isoformat()}"
        )


def test_a_reading_without_the_metric_is_no_evidence_of_recovery() -> None:
    noise = {"id": "nd-noise", "type": "threshold", "kinds": ["lamppost"], "when": "noise_db > 70"}
    e = engine(noise)
    assert isinstance(run(e, LAMP, T0, noise_db=80.0)[0], AlertOpened)
    # `not (noise_db > 70)` is true for a reading without noise_db; it must not clear the alert
    assert run(e, LAMP, T0 + timedelta(seconds=10), noise_db=None, power_w=20.0) == []
    assert run(e, LAMP, T0 + timedelta(seconds=20), power_w=20.0) == []
    assert isinstance(run(e, LAMP, T0 + timedelta(seconds=30), noise_db=50.0)[0], AlertCleared)


def test_a_rate_alert_clears_on_a_reading_of_its_metric_only() -> None:
    rate = {
        "id": "nd-rise",
        "type": "rate",
        "kinds": ["manhole"],
        "metric": "water_level_cm",
        "change": 20,
        "window": "10m",
    }
    mh = DeviceRef("nd-mh", DeviceKind.MANHOLE, "ndc", None, "g1")
    e = engine(rate)
    run(e, mh, T0, water_level_cm=10.0)
    assert isinstance(run(e, mh, T0 + timedelta(minutes=2), water_level_cm=40.0)[0], AlertOpened)
    # an event an hour later pushes every point out of the window: no reading of the metric, no clear
    ev = e.evaluate([Reading(mh, T0 + timedelta(hours=1), {"event": "cover_opened"}, "event")])
    e.commit(ev)
    assert ev.transitions == []
    assert isinstance(run(e, mh, T0 + timedelta(hours=1, seconds=1), water_level_cm=41.0)[0], AlertCleared)


def test_time_passing_clears_nothing() -> None:
    e = engine(SMOKE, {"id": "nd-silent", "type": "absence", "kinds": ["smoke_detector"], "period": "5m"})
    transitions = run(e, SD, T0, smoke_obscuration_pct_per_m=5.0)
    assert [type(t) for t in transitions] == [AlertOpened]
    for minutes in (1, 10, 60, 24 * 60):
        ticked = e.tick(T0 + timedelta(minutes=minutes))
        e.commit(ticked)
        assert all(isinstance(t, AlertOpened) for t in ticked.transitions), "silence never clears an alert"


def alert_on(conn: psycopg.Connection[Any], rule_id: str = "nd-db-smoke") -> tuple[DeviceRef, int, int]:
    d = device(conn, community(conn, "nd"), "sd1", DeviceKind.SMOKE_DETECTOR)
    rule = engine(SMOKE | {"id": rule_id}).rules[0]
    case_id = intake.open_alert_case(conn, AlertOpened(rule, d, d.id, T0, T0, {}), DispatchConfig(), T0)
    assert case_id is not None
    row = conn.execute(
        "SELECT id FROM alerts WHERE subject = %s AND rule_id = %s", (d.id, rule_id)
    ).fetchone()
    assert row is not None
    return d, case_id, int(row[0])


def data_state(conn: psycopg.Connection[Any], alert_id: int) -> tuple[str, str]:
    row = conn.execute("SELECT status, data_state FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_silence_freezes_open_alerts_and_a_reading_thaws_them(conn: psycopg.Connection[Any]) -> None:
    d, case_id, alert_id = alert_on(conn)
    # a "now" long ago, so that no other test's alert is silent that long
    now = datetime(2001, 1, 1, tzinfo=UTC)
    conn.execute(
        "UPDATE alerts SET last_reading_at = %s WHERE id = %s", (now - timedelta(minutes=10), alert_id)
    )
    assert data_gaps.silent_longer_than(conn, now, 900) == 0, "not silent long enough"
    assert data_gaps.silent_longer_than(conn, now, 300) == 1
    assert data_state(conn, alert_id) == ("open", "no_data")
    assert data_gaps.silent_longer_than(conn, now, 300) == 0, "frozen once"
    assert data_gaps.readings_arrived(conn, [d.id], now + timedelta(seconds=1)) == 1
    assert data_state(conn, alert_id) == ("open", "live")
    assert data_gaps.readings_arrived(conn, [d.id], now + timedelta(seconds=2)) == 0, "already live"
    data_gaps.device_silent(conn, [d.id], now + timedelta(seconds=3), "device reported offline")
    assert data_state(conn, alert_id) == ("open", "no_data")
    case = case_store.get_case(conn, case_id)
    assert case is not None
    events = [
        (h["action"], h["detail"]["why"] if h["action"] == "alert_no_data" else None)
        for h in case["history"][2:]
    ]
    assert events == [
        ("alert_no_data", "no reading for more than 300s"),
        ("alert_data_back", None),
        ("alert_no_data", "device reported offline"),
    ]
    causes = [
        {k: h["detail"][k] for k in ("cause", "gap_s") if k in h["detail"]}
        for h in case["history"]
        if h["action"] == "alert_no_data"
    ]
    assert causes == [{"cause": "no_reading", "gap_s": 300}, {"cause": "offline"}], "codes for every reader"
    assert case["alerts"][0]["data_state_label"] == "no data"


def test_the_device_alerts_api_reports_a_frozen_alert_as_no_data(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    d, case_id, alert_id = alert_on(conn, "nd-api-smoke")
    user = f"{d.community}-op"
    frozen_at = T0 + timedelta(minutes=3)
    with app_client(database_url, users={user: ("operator", (d.community,))}) as client:
        headers = login(client, user)

        def shown() -> tuple[str, str | None]:
            r = client.get(f"/api/v1/devices/{d.id}/alerts", headers=headers)
            assert r.status_code == 200, r.text
            [alert] = r.json()
            assert (alert["id"], alert["status"], alert["case_ids"]) == (alert_id, "open", [case_id])
            return alert["data_state"], alert["data_state_since"]

        assert shown() == ("live", None)
        data_gaps.device_silent(conn, [d.id], frozen_at, "test: gone quiet")
        state, since = shown()
        assert state == "no_data" and since is not None
        assert datetime.fromisoformat(since) == frozen_at
        data_gaps.readings_arrived(conn, [d.id], frozen_at + timedelta(seconds=5))
        state, since = shown()
        assert state == "live" and since is not None
        assert datetime.fromisoformat(since) == frozen_at + timedelta(seconds=5)


def test_an_absence_rule_firing_freezes_the_devices_other_alerts(conn: psycopg.Connection[Any]) -> None:
    d, _, alert_id = alert_on(conn, "nd-db-smoke2")
    silent = engine(
        {
            "id": "nd-db-silent",
            "type": "absence",
            "kinds": ["smoke_detector"],
            "period": "5m",
            "category": "device_health",
        }
    ).rules[0]
    assert (
        data_gaps.absence_fired(
            conn, AlertOpened(silent, d, d.id, T0, T0 + timedelta(minutes=5), {}), T0 + timedelta(minutes=5)
        )
        == 1
    )
    assert data_state(conn, alert_id) == ("open", "no_data")
    heartbeat = engine(
        {"id": "nd-db-hb", "type": "absence", "kinds": ["smoke_detector"], "period": "5m", "source": "event"}
    ).rules[0]
    assert data_gaps.absence_fired(conn, AlertOpened(heartbeat, d, d.id, T0, T0, {}), T0) == 0, (
        "a narrowed absence rule says less"
    )


LOADGEN = "loadgen-nodata-pw"
RULES = """
rules:
  - id: nd-live-smoke
    type: threshold
    title: Smoke (no-data test)
    kinds: [smoke_detector]
    devices: [ndl-sd1, ndl-sd2]
    severity: major
    category: fire
    when: smoke_obscuration_pct_per_m >= 3
    clear_when: smoke_obscuration_pct_per_m < 1
    dispatch: {team: fire-safety}
"""
ROUTING = """
default_team: nd-desk
verification: [{normal_for: 0s}]
"""


def start_hub(database_url: str, broker: Broker, tmp_path: Path, **env: str) -> HubProcess:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "nodata.yaml").write_text(RULES)
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    with psycopg.connect(database_url, autocommit=True) as c:
        upsert_user(c, "nd-op", "pw", "operator")
    h = HubProcess(
        database_url,
        broker,
        tmp_path,
        HUB_MQTT_LOADGEN_PASSWORD=LOADGEN,
        HUB_RULES_DIR=str(rules),
        HUB_ROUTING_FILE=str(routing),
        **env,
    )
    h.start()
    return h


@pytest.fixture
def stoppers() -> Iterator[list[HubProcess]]:
    hubs: list[HubProcess] = []
    yield hubs
    for h in hubs:
        h.stop()


def rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as c:
        return c.execute(sql, params).fetchall()


def test_a_silent_device_freezes_its_alert_and_only_real_readings_clear_it(
    database_url: str, broker: Broker, tmp_path: Path, stoppers: list[HubProcess]
) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        register(c, [{"id": "ndl-sd1", "kind": "smoke_detector", "community": "ndl", "building": "b1"}])
    hub = start_hub(database_url, broker, tmp_path, HUB_NO_DATA_AFTER_S="2")
    stoppers.append(hub)
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN)
    topic = "sc/v1/ndl/smoke_detector/ndl-sd1/telemetry"
    pub.publish(topic, smoke("ndl-sd1", 1, smoke_level=5.0, at=datetime.now(UTC))).wait_for_publish(5)
    alert = "SELECT status, data_state FROM alerts WHERE rule_id = 'nd-live-smoke' AND subject = 'ndl-sd1'"
    assert poll(lambda: rows(database_url, alert) == [("open", "live")], timeout=10), hub.log()
    # silence: more than 2 s without a reading freezes the alert; it stays open
    assert poll(lambda: rows(database_url, alert) == [("open", "no_data")], timeout=10), hub.log()
    [(case_id,)] = rows(database_url, "SELECT id FROM cases WHERE device_id = 'ndl-sd1'")
    op = hub.login("nd-op", "pw")
    detail = httpx.get(f"{hub.url}/api/v1/cases/{case_id}", headers=op).json()
    assert (detail["alerts"][0]["data_state"], detail["alerts"][0]["data_state_label"]) == (
        "no_data",
        "no data",
    )
    assert "alert_no_data" in [h["action"] for h in detail["history"]]
    for action, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "reset the detector"})):
        r = httpx.post(
            f"{hub.url}/api/v1/cases/{case_id}/actions", json={"action": action, **fields}, headers=op
        )
        assert r.status_code == 200, r.text
    close = httpx.post(f"{hub.url}/api/v1/cases/{case_id}/actions", json={"action": "close"}, headers=op)
    assert close.status_code == 409
    assert "alert nd-live-smoke on ndl-sd1 has no data since" in close.json()["error"]["message"]

    # a reading (still smoky) makes it live again without clearing it
    pub.publish(topic, smoke("ndl-sd1", 2, smoke_level=5.0, at=datetime.now(UTC))).wait_for_publish(5)
    assert poll(lambda: rows(database_url, alert) == [("open", "live")], timeout=10), hub.log()
    # only a reading that satisfies the clear condition clears it
    pub.publish(topic, smoke("ndl-sd1", 3, smoke_level=0.2, at=datetime.now(UTC))).wait_for_publish(5)
    pub.close()
    assert poll(lambda: rows(database_url, alert)[0][0] == "cleared", timeout=10), hub.log()
    history = [
        h["action"] for h in httpx.get(f"{hub.url}/api/v1/cases/{case_id}", headers=op).json()["history"]
    ]
    assert history.index("alert_no_data") < history.index("alert_data_back") < history.index("alert_cleared")
    done = httpx.post(f"{hub.url}/api/v1/cases/{case_id}/actions", json={"action": "close"}, headers=op)
    assert done.status_code == 200, done.text


def test_a_devices_last_will_freezes_its_alert(
    database_url: str, broker: Broker, tmp_path: Path, stoppers: list[HubProcess]
) -> None:
    with psycopg.connect(database_url, autocommit=True) as c:
        register(c, [{"id": "ndl-sd2", "kind": "smoke_detector", "community": "ndl", "building": "b2"}])
    hub = start_hub(database_url, broker, tmp_path)  # the default gap (300 s) plays no part here
    stoppers.append(hub)
    status = "sc/v1/ndl/smoke_detector/ndl-sd2/status"
    dev = Publisher(
        int(hub.env["HUB_MQTT_PORT"]),
        "loadgen",
        LOADGEN,
        client_id="ndl-sd2",
        will=(status, '{"state": "offline"}'),
    )
    dev.publish(
        "sc/v1/ndl/smoke_detector/ndl-sd2/telemetry",
        smoke("ndl-sd2", 1, smoke_level=5.0, at=datetime.now(UTC)),
    ).wait_for_publish(5)
    alert = "SELECT status, data_state FROM alerts WHERE rule_id = 'nd-live-smoke' AND subject = 'ndl-sd2'"
    assert poll(lambda: rows(database_url, alert) == [("open", "live")], timeout=10), hub.log()
    dev.drop()
    assert poll(lambda: rows(database_url, alert) == [("open", "no_data")], timeout=10), hub.log()
    notes = rows(
        database_url,
        "SELECT e.note FROM case_events e JOIN cases c ON c.id = e.case_id WHERE c.device_id = 'ndl-sd2' "
        "AND e.action = 'alert_no_data'",
    )
    assert len(notes) == 1 and "device reported offline (last will or status)" in notes[0][0]
