"""Carrier platforms' HTTP pushes into a hub process with the real database and broker: OneNET's URL
check and signed data pushes, CTWing's dataReport with a binary frame, each answered 200 only once its
readings are committed, a retry stored once, and forged, unsigned or stale pushes refused."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.devices.service import register
from hub.ingest.push import onenet_signature
from hub.store import devices as device_store
from tests.support.processes import HubProcess, poll
from tests.support.services import ROOT, Broker

ONENET_TOKEN = "onenet-test-token"
CTWING_TOKEN = "ctwing-test-token"


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    h = HubProcess(
        database_url,
        broker,
        tmp_path,
        HUB_ADAPTERS_DIR=str(ROOT / "adapters"),
        HUB_PUSH_TOKENS=json.dumps({"onenet/smoke-nb": ONENET_TOKEN, "ctwing/manhole": CTWING_TOKEN}),
    )
    yield h
    h.stop()


def _samples(name: str) -> list[dict[str, Any]]:
    lines = (ROOT / "adapters" / "samples" / f"{name}.jsonl").read_text().splitlines()
    return [s["body"] for s in map(json.loads, lines) if "devices" not in s]


def _rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as c:
        return c.execute(sql, params).fetchall()


def _signed(msg: dict[str, Any], nonce: str, token: str = ONENET_TOKEN) -> dict[str, Any]:
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
    return {"msg": msg, "nonce": nonce, "msg_signature": onenet_signature(token, nonce, text)}


def test_onenet_and_ctwing_pushes_are_committed_before_their_200(
    hub: HubProcess, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    community = f"push-{tag}"
    detector, hole = f"{community}-sd", f"{community}-mh"
    imei_sd, imei_mh = f"86{int(tag, 16) % 10**13:013d}", f"87{int(tag, 16) % 10**13:013d}"
    device_store.ensure_community(conn, community)
    register(
        conn,
        [
            {"id": detector, "kind": "smoke_detector", "community": community, "metadata": {"imei": imei_sd}},
            {"id": hole, "kind": "manhole", "community": community, "metadata": {"imei": imei_mh}},
        ],
    )
    hub.start()
    onenet = f"{hub.url}/api/v1/push/onenet/smoke-nb"

    check = {"msg": "xyz123", "nonce": "abcdefgh"}
    good = onenet_signature(ONENET_TOKEN, check["nonce"], check["msg"])
    answer = httpx.get(onenet, params={**check, "signature": good})
    assert (answer.status_code, answer.text) == (200, "xyz123")
    assert (
        httpx.get(
            onenet, params={**check, "signature": onenet_signature("guess", "abcdefgh", "xyz123")}
        ).status_code
        == 401
    )

    now_ms = int(time.time() * 1000)
    normal, fire = _samples("onenet-smoke")[:2]
    first = {**normal["msg"], "imei": imei_sd, "at": now_ms - 60_000}
    answer = httpx.post(onenet, json=_signed(first, "n-1"))
    assert answer.status_code == 200, answer.text
    stored = "SELECT seq, smoke_obscuration_pct_per_m, temperature_c, alarm FROM telemetry_smoke WHERE device_id = %s ORDER BY seq"
    assert _rows(database_url, stored, detector) == [(812, 0.12, 21.5, False)]  # committed before the 200

    retry = httpx.post(onenet, json=_signed(first, "n-1"))
    assert retry.status_code == 200
    assert len(_rows(database_url, stored, detector)) == 1

    forged = _signed({**first, "value": {**first["value"], "cnt": 900}}, "n-2", token="not-the-token")
    unsigned = {"msg": {**first, "value": {**first["value"], "cnt": 901}}}
    stale = _signed({**first, "at": now_ms - 3 * 86_400_000, "value": {**first["value"], "cnt": 902}}, "n-3")
    for body in (forged, unsigned, stale):
        assert httpx.post(onenet, json=body).status_code == 401
    assert httpx.post(f"{hub.url}/api/v1/push/onenet/unknown", json=_signed(first, "n-4")).status_code == 404
    huge = _signed({**first, "pad": "x" * 20_000}, "n-6")
    assert httpx.post(onenet, json=huge).status_code == 413
    assert httpx.post(onenet, content=b"not json").status_code == 422

    alarm = {**fire["msg"], "imei": imei_sd, "at": now_ms}
    as_text = json.dumps(alarm)  # OneNET may send msg as a JSON string, signed as sent
    body = {"msg": as_text, "nonce": "n-5", "msg_signature": onenet_signature(ONENET_TOKEN, "n-5", as_text)}
    assert httpx.post(onenet, json=body).status_code == 200
    assert [r[0] for r in _rows(database_url, stored, detector)] == [812, 813]
    assert _rows(database_url, "SELECT event FROM device_events WHERE device_id = %s", detector) == [
        ("alarm",)
    ]
    assert ("smoke-alarm",) in _rows(
        database_url, "SELECT rule_id FROM alerts WHERE device_id = %s", detector
    )

    ctwing = f"{hub.url}/api/v1/push/ctwing/manhole"
    report = {**_samples("ctwing-manhole")[0], "IMEI": imei_mh, "timestamp": now_ms}
    assert httpx.post(ctwing, json=report).status_code == 401
    assert httpx.post(ctwing, params={"token": "wrong"}, json=report).status_code == 401
    answer = httpx.post(ctwing, params={"token": CTWING_TOKEN}, json=report)
    assert answer.status_code == 200, answer.text
    assert _rows(
        database_url,
        "SELECT seq, cover_open, tilt_deg, water_level_cm, h2s_ppm, battery_pct, rssi_dbm FROM telemetry_manhole WHERE device_id = %s",
        hole,
    ) == [(41, True, 15.5, 123.4, 2.5, 87.0, -95)]
    still_open = {**report, "upPacketSN": 45, "timestamp": now_ms + 15_000}  # the rule holds for 10 s
    assert httpx.post(ctwing, params={"token": CTWING_TOKEN}, json=still_open).status_code == 200
    assert poll(
        lambda: (
            ("manhole-cover-displaced",)
            in _rows(database_url, "SELECT rule_id FROM alerts WHERE device_id = %s", hole)
        ),
        timeout=10,
    )

    truncated = {**_samples("ctwing-manhole")[2], "IMEI": imei_mh, "timestamp": now_ms}
    assert httpx.post(ctwing, params={"token": CTWING_TOKEN}, json=truncated).status_code == 200
    assert _rows(
        database_url,
        "SELECT adapter, step, topic FROM dead_letters WHERE adapter = 'ctwing-manhole' AND convert_from(payload, 'UTF8') LIKE %s",
        f"%{imei_mh}%",
    ) == [("ctwing-manhole", "field", "http/ctwing/manhole")]


def test_a_hub_killed_between_receiving_and_committing_a_push_stores_the_retry_once(
    database_url: str, broker: Broker, tmp_path: Path, conn: psycopg.Connection[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    community = f"kill-{tag}"
    detector, imei = f"{community}-sd", f"88{int(tag, 16) % 10**13:013d}"
    device_store.ensure_community(conn, community)
    register(
        conn, [{"id": detector, "kind": "smoke_detector", "community": community, "metadata": {"imei": imei}}]
    )
    hub = HubProcess(
        database_url,
        broker,
        tmp_path,
        HUB_ADAPTERS_DIR=str(ROOT / "adapters"),
        HUB_PUSH_TOKENS=json.dumps({"onenet/smoke-nb": ONENET_TOKEN}),
        HUB_PUSH_COMMIT_TIMEOUT_S="10",
    )
    try:
        hub.start()
        onenet = f"{hub.url}/api/v1/push/onenet/smoke-nb"
        msg = {**_samples("onenet-smoke")[0]["msg"], "imei": imei, "at": int(time.time() * 1000)}
        outcome: list[BaseException | int] = []

        def push() -> None:
            try:
                outcome.append(httpx.post(onenet, json=_signed(msg, "k-1"), timeout=15).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        # the test holds the readings table, so the hub's batch waits inside its transaction: received,
        # not committed, when the hub is killed
        with psycopg.connect(database_url) as blocker, blocker.transaction():
            blocker.execute("LOCK TABLE telemetry_smoke IN EXCLUSIVE MODE")
            sender = threading.Thread(target=push)
            sender.start()
            assert poll(lambda: _waiting_on_lock(database_url), timeout=10)
            assert hub.proc is not None
            hub.proc.kill()
            hub.proc.wait()
        sender.join(20)
        assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)  # never a 200
        stored = "SELECT count(*) FROM telemetry_smoke WHERE device_id = %s"
        assert _rows(database_url, stored, detector) == [(0,)]

        hub.start()
        for _ in range(2):  # the platform's retry, and one more
            assert httpx.post(onenet, json=_signed(msg, "k-1"), timeout=15).status_code == 200
        assert _rows(database_url, stored, detector) == [(1,)]
    finally:
        hub.stop()


def _waiting_on_lock(database_url: str) -> bool:
    return bool(
        _rows(
            database_url,
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
    )
