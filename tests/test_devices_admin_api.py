"""The admin console's device API (in-process app, real database, broker files in a temporary folder):
import dry runs, moves and parents, credential rotation, decommissioning, the device list's filters,
dead letters and open alerts with their filters and community scope, and the audit rows of each."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.broker.auth import verify_password
from hub.domain.devices import DeviceKind
from hub.ingest import registry as registry_cache
from hub.settings import Settings
from hub.store import db, deadletters
from hub.store import devices as device_store
from hub.store.users import upsert_user

NOW = datetime.now(UTC).replace(microsecond=0)
TAG = uuid.uuid4().hex[:6]
A, B = f"adm-a-{TAG}", f"adm-b-{TAG}"
USERS = {
    f"adm-admin-{TAG}": ("admin", []),
    f"adm-op-{TAG}": ("operator", []),
    f"adm-mgr-{TAG}": ("manager", [A]),
    f"adm-res-{TAG}": ("resident", [A]),
}
ADMIN, OPERATOR, MANAGER, RESIDENT = USERS


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth")


@pytest.fixture(scope="module")
def client(database_url: str, auth_dir: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, mqtt_auth_dir=auth_dir, environment="test")
    pool = db.make_pool(database_url)
    with pool.connection() as conn:
        for name, (role, communities) in USERS.items():
            upsert_user(conn, name, "pw", role, communities)
    with TestClient(create_app(settings, pool)) as c:
        yield c
    pool.close()


_tokens: dict[str, dict[str, str]] = {}


def login(client: TestClient, user: str) -> dict[str, str]:
    if user not in _tokens:
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "pw"})
        assert r.status_code == 200, r.text
        _tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[user]


def register(client: TestClient, device_id: str, community: str = A, kind: str = "smoke_detector") -> str:
    r = client.post(
        "/api/v1/devices",
        json={"id": device_id, "kind": kind, "community": community, "building": "b1", "grid": "g1"},
        headers=login(client, ADMIN),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["mqtt_password"])


def audit_rows(conn: psycopg.Connection[Any], action: str, target: str | None) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT actor, outcome, community_id, details FROM audit_log WHERE action = %s "
        "AND target_id IS NOT DISTINCT FROM %s ORDER BY id",
        (action, target),
    ).fetchall()


def test_an_import_preview_refuses_a_bad_row_field_by_field_and_writes_nothing_until_committed(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    admin = login(client, ADMIN)
    good, bad = f"{A}-imp-sd1", f"{A}-imp-bad"
    csv_text = (
        "id,kind,community,building,grid,plan_x,plan_y\n"
        f"{good},smoke_detector,{A},b1,g1,10,20\n"
        f"{bad},toaster,{A},b1,g1,not-a-number,1\n"
    )
    headers = {**admin, "Content-Type": "text/csv"}
    preview = client.post("/api/v1/devices/import/csv?dry_run=true", content=csv_text, headers=headers)
    assert preview.status_code == 200, preview.text
    out = preview.json()
    assert (out["dry_run"], out["created"], out["updated"], out["errors"]) == (True, 1, 0, 1)
    refused = out["rows"][1]
    assert (refused["row"], refused["id"], refused["status"]) == (2, bad, "error")
    assert {e["field"] for e in refused["errors"]} == {"kind", "plan_x"}
    assert all(e["message"] for e in refused["errors"])
    assert out["rows"][0]["mqtt_password"] is None, "a dry run issues no password"
    assert device_store.get_device(conn, good) is None, "a preview writes nothing"

    done = client.post("/api/v1/devices/import/csv", content=csv_text, headers=headers).json()
    assert (done["dry_run"], done["created"], done["errors"]) == (False, 1, 1)
    stored = device_store.get_device(conn, good)
    assert stored is not None and (stored["plan_x"], stored["plan_y"]) == (10, 20)
    row = conn.execute("SELECT mqtt_password_hash FROM devices WHERE id = %s", (good,)).fetchone()
    assert row is not None and verify_password(done["rows"][0]["mqtt_password"], row[0])

    again = client.post(
        "/api/v1/devices/import",
        json={
            "dry_run": True,
            "devices": [{"id": good, "kind": "smoke_detector", "community": A, "grid": "g2"}],
        },
        headers=admin,
    ).json()
    assert again["rows"][0]["status"] == "updated"
    assert again["rows"][0]["changes"]["grid"] == ["g1", "g2"]
    assert again["rows"][0]["changes"]["building"] == ["b1", None]
    assert device_store.get_device(conn, good)["grid"] == "g1"  # type: ignore[index]

    details = [r[3] for r in audit_rows(conn, "device.import", None) if r[0] == ADMIN]
    assert {"dry_run": True, "created": 1, "updated": 0, "errors": 1} in details
    assert {"dry_run": False, "created": 1, "updated": 0, "errors": 1} in details


def test_a_device_moves_and_hangs_under_a_parent_of_its_community(
    client: TestClient, conn: psycopg.Connection[Any], auth_dir: Path
) -> None:
    admin = login(client, ADMIN)
    gw, child, other = f"{A}-mv-gw", f"{A}-mv-sd", f"{B}-mv-gw"
    for d, c in ((gw, A), (child, A), (other, B)):
        register(client, d, c, "lamppost")
    url = f"/api/v1/devices/{child}"
    moved = client.patch(
        url, json={"building": "b7", "plan_x": 5.5, "plan_y": 6, "parent_id": gw}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["building"], moved.json()["grid"], moved.json()["parent_id"]) == ("b7", "g1", gw)
    assert (moved.json()["plan_x"], moved.json()["plan_y"]) == (5.5, 6)

    elsewhere = client.patch(url, json={"parent_id": other}, headers=admin)
    assert elsewhere.status_code == 422 and "same community" in elsewhere.json()["error"]["message"]
    cycle = client.patch(f"/api/v1/devices/{gw}", json={"parent_id": child}, headers=admin)
    assert cycle.status_code == 409 and "cycle" in cycle.json()["error"]["message"]
    leaving_children = client.patch(f"/api/v1/devices/{gw}", json={"community": B}, headers=admin)
    assert leaving_children.status_code == 409 and child in leaving_children.json()["error"]["message"]
    keeping_parent = client.patch(url, json={"community": B}, headers=admin)
    assert keeping_parent.status_code == 422 and "parent_id" in keeping_parent.json()["error"]["message"]

    to_b = client.patch(url, json={"community": B, "parent_id": other}, headers=admin)
    assert to_b.status_code == 200, to_b.text
    assert (to_b.json()["community_id"], to_b.json()["parent_id"]) == (B, other)
    assert f"topic write sc/v1/{B}/lamppost/{child}/#" in (auth_dir / "acl").read_text()
    assert client.patch(url, json={"building": "x"}, headers=login(client, OPERATOR)).status_code == 403
    assert client.patch(f"{url}-nope", json={"building": "x"}, headers=admin).status_code == 404
    outcomes = [(r[1], r[2]) for r in audit_rows(conn, "device.place", child)]
    assert outcomes == [(200, A), (422, A), (422, A), (200, B), (403, B)]


def test_a_new_password_replaces_the_old_one_in_the_broker_files(
    client: TestClient, conn: psycopg.Connection[Any], auth_dir: Path
) -> None:
    device = f"{A}-rot-sd"
    old = register(client, device)
    r = client.post(f"/api/v1/devices/{device}/credentials", headers=login(client, ADMIN))
    assert r.status_code == 200, r.text
    new = r.json()["mqtt_password"]
    stored = device_store.get_device(conn, device)
    assert stored is not None and stored["credentials_rotated_at"] is not None
    line = next(x for x in (auth_dir / "passwd").read_text().splitlines() if x.startswith(f"{device}:"))
    assert verify_password(new, line.split(":", 1)[1]) and not verify_password(old, line.split(":", 1)[1])
    assert (
        client.post(f"/api/v1/devices/{device}/credentials", headers=login(client, MANAGER)).status_code
        == 403
    )
    assert [r[1] for r in audit_rows(conn, "device.rotate_credentials", device)] == [200, 403]
    assert not any(new in json.dumps(r[3]) for r in audit_rows(conn, "device.rotate_credentials", device))


def test_a_decommissioned_device_loses_its_account_keeps_its_record_and_can_come_back(
    client: TestClient, conn: psycopg.Connection[Any], auth_dir: Path
) -> None:
    admin = login(client, ADMIN)
    device = f"{A}-dec-sd"
    register(client, device)
    version = device_store.registry_version(conn)
    r = client.post(f"/api/v1/devices/{device}/decommission", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["decommissioned_at"] is not None
    assert device_store.registry_version(conn) > version, "ingest's cache sees the change"
    assert f"{device}:" not in (auth_dir / "passwd").read_text()
    assert f"user {device}\n" not in (auth_dir / "acl").read_text()
    assert device_store.device_refs(conn, [device])[device].decommissioned
    assert client.post(f"/api/v1/devices/{device}/decommission", headers=admin).status_code == 409
    assert client.post(f"/api/v1/devices/{device}/credentials", headers=admin).status_code == 409
    listed = client.get("/api/v1/devices", params={"community": A, "decommissioned": "true"}, headers=admin)
    assert device in [d["id"] for d in listed.json()]
    in_service = client.get(
        "/api/v1/devices", params={"community": A, "decommissioned": "false"}, headers=admin
    )
    assert device not in [d["id"] for d in in_service.json()]
    plan = client.get(f"/api/v1/sites/{A}", headers=admin).json()
    assert device not in [d["id"] for d in plan["devices"]]

    back = client.post(f"/api/v1/devices/{device}/recommission", headers=admin)
    assert back.status_code == 200, back.text
    line = next(x for x in (auth_dir / "passwd").read_text().splitlines() if x.startswith(f"{device}:"))
    assert verify_password(back.json()["mqtt_password"], line.split(":", 1)[1])
    assert client.post(f"/api/v1/devices/{device}/recommission", headers=admin).status_code == 409
    actions = conn.execute(
        "SELECT action, outcome FROM audit_log WHERE target_id = %s AND action LIKE 'device.%%commission' ORDER BY id",
        (device,),
    ).fetchall()
    assert actions == [
        ("device.decommission", 200),
        ("device.decommission", 409),
        ("device.recommission", 200),
        ("device.recommission", 409),
    ]


def test_the_ingest_cache_sees_a_decommissioning_within_a_check(
    client: TestClient, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    device = f"{A}-cache-sd"
    register(client, device)
    cache = registry_cache.RegistryCache()
    assert not cache.covering(conn, {device})[device].decommissioned
    monkeypatch.setattr(registry_cache, "CHECK_EVERY_S", 0.0)
    client.post(f"/api/v1/devices/{device}/decommission", headers=login(client, ADMIN))
    assert cache.covering(conn, set())[device].decommissioned
    assert device in cache.take_retired()
    assert cache.take_retired() == set()


def test_the_device_list_filters_by_search_silence_and_battery(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    quiet, fresh, flat = f"{A}-fl-quiet", f"{A}-fl-fresh", f"{A}-fl-flat"
    for d in (quiet, fresh, flat):
        register(client, d)
    device_store.record_seen(
        conn,
        [
            device_store.StateUpdate(quiet, NOW - timedelta(minutes=90), 1, 80.0, None, None),
            device_store.StateUpdate(fresh, NOW, 1, 80.0, None, None),
            device_store.StateUpdate(flat, NOW, 1, 9.0, None, None),
        ],
    )
    admin = login(client, ADMIN)

    def ids(**params: str) -> set[str]:
        r = client.get("/api/v1/devices", params={"q": f"{A}-fl-", "limit": "1000", **params}, headers=admin)
        assert r.status_code == 200, r.text
        return {d["id"] for d in r.json()}

    assert ids() == {quiet, fresh, flat}
    assert ids(q="FL-QUIET") == {quiet}
    assert ids(silent_min="60") == {quiet}
    assert ids(battery_below="10") == {flat}
    bad = client.get("/api/v1/devices", params={"battery_below": "120"}, headers=admin)
    assert bad.status_code == 422 and "battery_below" in bad.text


def add_dead_letter(
    conn: psycopg.Connection[Any],
    at: datetime,
    community: str | None,
    device: str | None,
    reason: str,
    payload: bytes,
) -> None:
    topic = f"sc/v1/{community}/smoke_detector/{device}/telemetry" if community else "elsewhere/x"
    deadletters.insert(
        conn,
        [
            deadletters.DeadLetter(
                at,
                topic,
                device,
                reason,
                payload,
                len(payload) + 100,
                (community, "smoke_detector", device) if community and device else None,
            )
        ],
    )


@pytest.fixture(scope="module")
def letters(client: TestClient, database_url: str) -> dict[str, str]:
    """Dead letters of a registered device of A, an unknown device of A, a device of B and a topic that
    names no community, over the last three hours."""
    known, unknown, of_b = f"{A}-dl-sd", f"{A}-dl-new", f"{B}-dl-sd"
    register(client, known)
    with psycopg.connect(database_url, autocommit=True) as conn:
        add_dead_letter(
            conn, NOW - timedelta(minutes=150), A, known, "invalid payload: ts: missing", b'{"seq": 1}'
        )
        add_dead_letter(
            conn, NOW - timedelta(minutes=90), A, known, "rate_limited: too many", b"\x00\xff\x10"
        )
        add_dead_letter(
            conn, NOW - timedelta(minutes=30), A, unknown, f"unregistered device '{unknown}'", b"{}"
        )
        add_dead_letter(conn, NOW - timedelta(minutes=20), B, of_b, "invalid payload: x", b"{}")
        add_dead_letter(conn, NOW - timedelta(minutes=10), None, None, "wrong topic: outside sc/v1/", b"{}")
    return {"known": known, "unknown": unknown, "of_b": of_b}


def page(client: TestClient, user: str, **params: str) -> Any:
    r = client.get(
        "/api/v1/dead-letters",
        params={"from": (NOW - timedelta(hours=3)).isoformat(), **params},
        headers=login(client, user),
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_dead_letters_filter_by_device_reason_and_time_and_show_their_payload_safely(
    client: TestClient, letters: dict[str, str]
) -> None:
    rows = page(client, ADMIN, device=letters["known"])["dead_letters"]
    assert [r["code"] for r in rows] == ["rate_limited", "invalid"]
    binary, text = rows
    assert (binary["payload_text"], binary["payload_hex"], binary["payload_size"]) == (None, "00 ff 10", 103)
    assert text["payload_text"] == '{"seq": 1}'
    assert (text["community_id"], text["kind"], text["registered"]) == (A, "smoke_detector", True)
    assert [
        r["device_id"] for r in page(client, ADMIN, code="unregistered", community=A)["dead_letters"]
    ] == [letters["unknown"]]
    unknown = page(client, ADMIN, device=letters["unknown"])["dead_letters"][0]
    assert unknown["registered"] is False
    recent = page(client, ADMIN, device=letters["known"], **{"from": (NOW - timedelta(hours=2)).isoformat()})
    assert [r["code"] for r in recent["dead_letters"]] == ["rate_limited"]

    first = page(client, ADMIN, community=A, limit="1")
    assert len(first["dead_letters"]) == 1 and first["next_cursor"]
    rest = page(client, ADMIN, community=A, cursor=first["next_cursor"])
    seen = [r["id"] for r in first["dead_letters"] + rest["dead_letters"]]
    assert len(seen) == len(set(seen)) == 3 and rest["next_cursor"] is None


def test_a_manager_reads_only_their_communities_dead_letters_and_each_read_is_audited(
    client: TestClient, conn: psycopg.Connection[Any], letters: dict[str, str]
) -> None:
    everything = page(client, ADMIN)["dead_letters"]
    assert {letters["of_b"], None} <= {r["device_id"] for r in everything}
    mine = page(client, MANAGER)["dead_letters"]
    assert mine and {r["community_id"] for r in mine} == {A}
    assert page(client, MANAGER, community=B)["dead_letters"] == []
    for user in (OPERATOR, RESIDENT):
        assert client.get("/api/v1/dead-letters", headers=login(client, user)).status_code == 403
    rows = conn.execute(
        "SELECT actor, outcome, details->>'rows' FROM audit_log WHERE action = 'dead_letters.read' "
        "AND actor = ANY(%s) ORDER BY id",
        ([MANAGER, OPERATOR],),
    ).fetchall()
    assert (MANAGER, 200, str(len(mine))) in rows and (OPERATOR, 403, None) in rows
    bad = client.get("/api/v1/dead-letters", params={"cursor": "nope"}, headers=login(client, ADMIN))
    assert bad.status_code == 422 and "cursor" in bad.json()["error"]["message"]


def test_dead_letters_are_counted_per_reason_and_hour(client: TestClient, letters: dict[str, str]) -> None:
    r = client.get(
        "/api/v1/dead-letters/summary",
        params={"community": A, "from": (NOW - timedelta(hours=3)).isoformat(), "to": NOW.isoformat()},
        headers=login(client, MANAGER),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["totals"] == {"invalid": 1, "rate_limited": 1, "unregistered": 1}
    assert out["bucket"] == "hour" and sum(b["count"] for b in out["buckets"]) == 3
    starts = [datetime.fromisoformat(b["start"]) for b in out["buckets"]]
    assert all(s.minute == 0 and s.second == 0 for s in starts) and starts == sorted(starts)
    too_long = client.get(
        "/api/v1/dead-letters/summary",
        params={"from": (NOW - timedelta(days=200)).isoformat()},
        headers=login(client, ADMIN),
    )
    assert too_long.status_code == 422 and "bucket=day" in too_long.json()["error"]["message"]
    daily = client.get(
        "/api/v1/dead-letters/summary",
        params={"from": (NOW - timedelta(days=200)).isoformat(), "bucket": "day", "community": B},
        headers=login(client, MANAGER),
    )
    assert daily.status_code == 200 and daily.json()["totals"] == {}


def add_alert(conn: psycopg.Connection[Any], device: str, community: str, rule: str, **over: Any) -> int:
    values = {
        "severity": "major",
        "category": "fire",
        "title": "Smoke alarm",
        "title_zh": "烟雾报警",
        "data_state": "live",
        "silence_id": None,
        "status": "open",
        **over,
    }
    row = conn.execute(
        "INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, building, grid, severity, "
        "category, title, title_zh, status, started_at, opened_at, explanation, data_state, silence_id) "
        "VALUES (%s, 'v1', %s, %s, %s, 'b1', 'g1', %s, %s, %s, %s, %s, %s, %s, '{}', %s, %s) RETURNING id",
        (
            rule,
            f"{device}-{uuid.uuid4().hex[:4]}",
            device,
            community,
            values["severity"],
            values["category"],
            values["title"],
            values["title_zh"],
            values["status"],
            NOW,
            NOW,
            values["data_state"],
            values["silence_id"],
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_open_alerts_filter_and_stay_in_the_callers_communities(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    sd, lamp, of_b = f"{A}-al-sd", f"{A}-al-lamp", f"{B}-al-sd"
    register(client, sd)
    register(client, lamp, A, "lamppost")
    register(client, of_b, B)
    rule = f"adm-rule-{TAG}"
    silence = conn.execute(
        "INSERT INTO silences (rule_id, starts_at, ends_at, reason, created_by) VALUES (%s, %s, %s, 'works', 'x') "
        "RETURNING id",
        (rule, NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
    ).fetchone()
    assert silence is not None
    fire = add_alert(conn, sd, A, rule, severity="critical")
    dark = add_alert(
        conn, lamp, A, rule, category="lighting", title_zh=None, data_state="no_data", silence_id=silence[0]
    )
    add_alert(conn, of_b, B, rule)
    add_alert(conn, sd, A, rule, status="cleared")
    case = conn.execute(
        "INSERT INTO cases (title, category, severity, status, source, subject, community_id, device_id) "
        "VALUES ('Smoke', 'fire', 'critical', 'dispatched', 'alert', %s, %s, %s) RETURNING id",
        (f"{sd}-{TAG}", A, sd),
    ).fetchone()
    assert case is not None
    conn.execute("INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s)", (case[0], fire))

    def ids(user: str, **params: str) -> list[int]:
        r = client.get("/api/v1/alerts", params={"rule": rule, **params}, headers=login(client, user))
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["alerts"]]

    assert len(ids(ADMIN)) == 3
    assert sorted(ids(MANAGER)) == sorted([fire, dark])
    assert ids(ADMIN, severity="critical") == [fire]
    assert ids(ADMIN, silenced="true") == [dark]
    assert ids(ADMIN, data_state="no_data", community=A) == [dark]
    assert ids(ADMIN, kind="lamppost") == [dark]
    assert ids(ADMIN, category="lighting") == [dark]
    assert ids(MANAGER, community=B) == []
    found = client.get(
        "/api/v1/alerts", params={"rule": rule, "severity": "critical"}, headers=login(client, OPERATOR)
    )
    alert = found.json()["alerts"][0]
    assert (alert["title_zh"], alert["case_ids"], alert["device_kind"], alert["silenced"]) == (
        "烟雾报警",
        [case[0]],
        DeviceKind.SMOKE_DETECTOR.value,
        False,
    )
    assert client.get("/api/v1/alerts", headers=login(client, RESIDENT)).status_code == 403
    first = client.get(
        "/api/v1/alerts", params={"rule": rule, "limit": "2"}, headers=login(client, ADMIN)
    ).json()
    rest = client.get(
        "/api/v1/alerts", params={"rule": rule, "cursor": first["next_cursor"]}, headers=login(client, ADMIN)
    ).json()
    assert len({a["id"] for a in first["alerts"] + rest["alerts"]}) == 3 and rest["next_cursor"] is None
