"""No alarm floods, through the real hub process, broker and database. The hub's own deafness is not the
devices' silence: after the hub or the broker was away longer than an absence rule's period, devices
that come back within the period open no case, and one that stays silent still does. 80 % of a
community vanishing is one outage case; 38 lampposts losing voltage are one storm case with a count,
and a fire among them still gets its own case at once."""

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.devices.service import register
from tests.support.dashboard_site import reading
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker

LOADGEN = "loadgen-floods-pw"
PERIOD_S = 4
RULES = f"""
rules:
  - id: nf-silent
    type: absence
    title: Detector silent (test)
    kinds: [smoke_detector]
    severity: minor
    category: device_health
    period: {PERIOD_S}s
    dispatch: {{team: maintenance}}
  - id: nf-no-voltage
    type: threshold
    title: No mains voltage (test)
    kinds: [lamppost]
    severity: minor
    category: lighting
    when: voltage_v < 100
    dispatch: {{team: lighting}}
  - id: nf-fire
    type: threshold
    title: Smoke alarm (test)
    kinds: [smoke_detector]
    severity: critical
    category: fire
    when: alarm
    dispatch: {{team: fire-safety}}
"""


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "floods.yaml").write_text(RULES)
    h = HubProcess(
        database_url, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN, HUB_RULES_DIR=str(rules)
    )
    yield h
    h.stop()


SEQ = itertools.count(1)


def heartbeat(hub: HubProcess, community: str, devices: list[str]) -> None:
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN)
    try:
        for d in devices:
            topic = f"sc/v1/{community}/smoke_detector/{d}/telemetry"
            pub.publish(topic, smoke(d, next(SEQ), at=datetime.now(UTC))).wait_for_publish(5)
    finally:
        pub.close()


def keep_alive(
    hub: HubProcess,
    community: str,
    devices: list[str],
    seconds: float,
    until: Callable[[], bool] | None = None,
) -> None:
    """The devices that came back report every second, as a fleet does: for `seconds`, then on until
    `until` holds (at most 30 s more: a loaded machine may take longer to notice a silent device)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end or (until is not None and not until() and time.monotonic() < end + 30):
        heartbeat(hub, community, devices)
        time.sleep(1.0)


def silent_subjects(database_url: str, community: str) -> set[str]:
    with psycopg.connect(database_url) as c:
        rows: list[Any] = c.execute(
            "SELECT a.subject FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id "
            "WHERE a.rule_id = 'nf-silent' AND a.community_id = %s",
            (community,),
        ).fetchall()
    return {r[0] for r in rows}


def fleet(database_url: str, community: str) -> list[str]:
    devices = [f"{community}-sd{i}" for i in range(3)]
    with psycopg.connect(database_url, autocommit=True) as c:
        register(c, [{"id": d, "kind": "smoke_detector", "community": community} for d in devices])
    return devices


def test_a_hub_restart_longer_than_the_period_opens_a_case_only_for_the_device_that_stays_silent(
    hub: HubProcess, database_url: str
) -> None:
    back, gone = (devices := fleet(database_url, "nfr"))[:2], devices[2]
    hub.start()
    heartbeat(hub, "nfr", devices)
    hub.stop()
    time.sleep(PERIOD_S + 2)

    hub.start()
    keep_alive(hub, "nfr", back, PERIOD_S + 3, until=lambda: gone in silent_subjects(database_url, "nfr"))

    assert silent_subjects(database_url, "nfr") == {gone}


def test_a_broker_outage_longer_than_the_period_opens_a_case_only_for_the_device_that_stays_silent(
    hub: HubProcess, broker: Broker, database_url: str
) -> None:
    back, gone = (devices := fleet(database_url, "nfb"))[:2], devices[2]
    hub.start()
    heartbeat(hub, "nfb", devices)
    broker.stop()
    time.sleep(PERIOD_S + 2)
    assert silent_subjects(database_url, "nfb") == set(), "the hub cannot hear anybody: nobody is silent"

    broker.start()
    assert poll(
        lambda: httpx.get(f"{hub.url}/api/v1/health", timeout=2).json()["ingest"] == "subscribed", timeout=40
    ), "the hub resubscribes by itself"
    keep_alive(hub, "nfb", back, PERIOD_S + 3, until=lambda: gone in silent_subjects(database_url, "nfb"))

    assert silent_subjects(database_url, "nfb") == {gone}


def test_80_percent_of_a_200_device_community_vanishing_opens_one_outage_case_listing_them(
    hub: HubProcess, database_url: str
) -> None:
    devices = [f"nfo-sd{i:03}" for i in range(200)]
    with psycopg.connect(database_url, autocommit=True) as c:
        register(c, [{"id": d, "kind": "smoke_detector", "community": "nfo"} for d in devices])
    alive, gone = devices[:40], devices[40:]
    hub.start()
    heartbeat(hub, "nfo", devices)
    keep_alive(hub, "nfo", alive, PERIOD_S + 4)

    def open_cases() -> list[tuple[int, str]]:
        with psycopg.connect(database_url) as c:
            return [
                (int(r[0]), str(r[1]))
                for r in c.execute(
                    "SELECT id, subject FROM cases WHERE community_id = 'nfo' "
                    "AND status NOT IN ('resolved', 'closed', 'cancelled')"
                )
            ]

    assert poll(lambda: len(silent_subjects(database_url, "nfo")) >= len(gone), timeout=20)
    [(case_id, subject)] = open_cases()
    assert subject == "outage:nf-silent:nfo"
    with psycopg.connect(database_url) as c:
        listed = {
            r[0]
            for r in c.execute(
                "SELECT a.device_id FROM case_alerts ca JOIN alerts a ON a.id = ca.alert_id WHERE ca.case_id = %s",
                (case_id,),
            )
        }
    assert listed == set(gone)


def test_38_lampposts_losing_voltage_are_one_storm_case_and_a_fire_among_them_gets_its_own(
    hub: HubProcess, database_url: str
) -> None:
    lamps = [f"nfl-g2-lamp{i:02}" for i in range(38)]
    detector = "nfl-g2-sd01"
    with psycopg.connect(database_url, autocommit=True) as c:
        register(
            c,
            [{"id": d, "kind": "lamppost", "community": "nfl", "grid": "g2"} for d in lamps]
            + [{"id": detector, "kind": "smoke_detector", "community": "nfl", "grid": "g2"}],
        )
    hub.start()
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN)
    try:
        for i, lamp in enumerate(lamps):
            dark = reading("lamppost", lamp, next(SEQ), datetime.now(UTC), voltage_v=0.0)
            pub.publish(f"sc/v1/nfl/lamppost/{lamp}/telemetry", dark).wait_for_publish(5)
            if i == len(lamps) // 2:
                fire = smoke(detector, next(SEQ), alarm=True, at=datetime.now(UTC))
                pub.publish(f"sc/v1/nfl/smoke_detector/{detector}/telemetry", fire).wait_for_publish(5)
    finally:
        pub.close()

    def lighting_cases() -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as c:
            return c.execute(
                "SELECT c.id, c.subject, c.title, count(ca.alert_id) FROM cases c "
                "LEFT JOIN case_alerts ca ON ca.case_id = c.id WHERE c.community_id = 'nfl' "
                "AND c.category = 'lighting' AND c.status NOT IN ('resolved', 'closed', 'cancelled') "
                "GROUP BY c.id",
            ).fetchall()

    assert poll(lambda: [r for r in lighting_cases() if r[3] == len(lamps)], timeout=20), lighting_cases()
    [(_, subject, title, _)] = lighting_cases()
    assert subject == "storm:nf-no-voltage:nfl:g2"
    assert title == "38 lampposts of grid g2 of nfl: No mains voltage (test)"
    with psycopg.connect(database_url) as c:
        fires = c.execute(
            "SELECT status FROM cases WHERE device_id = %s AND category = 'fire'", (detector,)
        ).fetchall()
    assert fires == [("dispatched",)], "the fire is a case of its own, not part of the storm"
