"""The API fuzzed from its own OpenAPI schema with schemathesis, once per role, against the in-process
app on a database of its own seeded with two communities: no request may produce a 5xx, and no answer
may carry another community's data. A deterministic sweep then asks every route for the other
community's records by their real ids."""

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.python.asgi import shutdown_lifespans

from hub.api.app import create_app
from hub.cases.opening import NewCase, open_case
from hub.cases.routing import Routed
from hub.cases.sla import Deadlines
from hub.devices.service import register
from hub.ingest.rules import RuleSet
from hub.settings import Settings
from hub.store import cases as case_store
from hub.store import db, plan_images, silences, users
from hub.store.users import upsert_user
from tests.support.images import png
from tests.support.services import ROOT, migrated_database

# examples per operation, role and generation mode (~35 operations x 4 roles x 2 modes); raise it for a
# deeper local run: HUB_FUZZ_EXAMPLES=200 pytest tests/test_security_api_fuzz.py
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "10"))
API = "/api/v1"
ROLES = ("admin", "operator", "manager", "resident")
SCOPE: dict[str, set[str] | None] = {"admin": None, "operator": None, "manager": {"sta"}, "resident": {"sta"}}
# the server-sent event stream never ends; the SSE tests cover it
SKIPPED = {"GET /api/v1/events/stream"}


@dataclass
class Seeded:
    url: str
    pool: ConnectionPool
    app: FastAPI
    tokens: dict[str, str]
    user_ids: dict[str, int]
    ids: dict[str, Any]


def _case(conn: psycopg.Connection[Any], community: str, device: str | None, source: str, **kw: Any) -> int:
    now = datetime.now(UTC)
    new = NewCase(
        title=f"{source} case in {community}",
        category="fire",
        severity="major",
        source=source,
        subject=f"{source}:{community}:{device}:{kw.get('reporter_id')}",
        community_id=community,
        building="b1",
        grid="g1",
        device_id=device,
        description="seeded",
        **kw,
    )
    due = Deadlines(now + timedelta(minutes=15), now + timedelta(hours=4))
    case_id, _ = open_case(
        conn, new, Routed("fire-safety", "default"), due, actor="seed", why="seeded", why_detail={}, at=now
    )
    return case_id


def _alert(conn: psycopg.Connection[Any], community: str, device: str) -> int:
    now = datetime.now(UTC)
    row = conn.execute(
        "INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, building, grid, severity,"
        " category, title, status, started_at, opened_at, explanation)"
        " VALUES ('smoke-alarm', 'v1', %s, %s, %s, 'b1', 'g1', 'critical', 'fire', 'seeded', 'open', %s, %s,"
        " '{}'::jsonb) RETURNING id",
        (device, device, community, now, now),
    ).fetchone()
    assert row is not None
    return int(row[0])


def seed(url: str) -> tuple[dict[str, int], dict[str, Any]]:
    ids: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        register(
            conn,
            [
                {"id": f"{c}-{k}", "kind": kind, "community": c, "building": "b1", "grid": "g1", "plan_x": 10,
                 "plan_y": 20}
                for c in ("sta", "stb")
                for k, kind in (("sd1", "smoke_detector"), ("gt1", "access_gate"))
            ],
        )  # fmt: skip
        user_ids = {
            role: upsert_user(conn, f"st-{role}", f"st-{role}-pw", role, ["sta"] if SCOPE[role] else None)
            for role in ROLES
        }
        other_resident = upsert_user(conn, "st-neighbour", "st-neighbour-pw", "resident", ["sta"])
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO telemetry_smoke (time, device_id, seq, received_at, community_id,"
            " smoke_obscuration_pct_per_m, temperature_c, battery_pct, alarm, fault, tamper, test_button)"
            " SELECT %s - n * interval '1 minute', d, n, now(), left(d, 3), 0.1, 21, 80, false, false, false,"
            " false FROM generate_series(0, 59) AS n, unnest(ARRAY['sta-sd1', 'stb-sd1']) AS d",
            (now,),
        )
        for c in ("sta", "stb"):
            plan_images.put(conn, c, "image/png", png(), now)
            ids[f"{c}_alert"] = _alert(conn, c, f"{c}-sd1")
            ids[f"{c}_case"] = _case(conn, c, f"{c}-sd1", "alert")
            case_store.link_alert(conn, ids[f"{c}_case"], ids[f"{c}_alert"])
            ids[f"{c}_operator_case"] = _case(conn, c, None, "operator", reporter_id=user_ids["operator"])
            ids[f"{c}_silence"] = silences.create(
                conn,
                rule_id=None,
                device_id=None,
                community_id=c,
                building=None,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(days=1),
                reason=f"seeded silence in {c}",
                created_by="st-operator",
            )["id"]
        ids["sta_resident_case"] = _case(conn, "sta", None, "resident", reporter_id=user_ids["resident"])
        ids["sta_neighbour_case"] = _case(conn, "sta", None, "resident", reporter_id=other_resident)
        ids["stb_attachment"] = case_store.insert_attachment(
            conn, ids["stb_operator_case"], "image/png", b"\x89PNG\r\n\x1a\nseeded", user_ids["operator"]
        )
        case_store.add_member(conn, "fire-safety", "st-operator")
    return user_ids, ids


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A database of its own: the fuzzer creates, changes and deletes at random."""
    with migrated_database() as url:
        user_ids, ids = seed(url)
        settings = Settings(
            database_url=url,
            environment="test",
            mqtt_auth_dir=tmp_path_factory.mktemp("auth"),
            dashboard_dir=ROOT / "dashboards" / "web",
            routing_file=ROOT / "config" / "routing.yaml",
        )
        pool = db.make_pool(url)
        try:
            rules_dir = tmp_path_factory.mktemp("rules")  # admins may save rule files: never the repository's
            shutil.copytree(ROOT / "rules", rules_dir, dirs_exist_ok=True)
            rule_set = RuleSet(rules_dir, apply=lambda _rules: None, pool=pool, worker="fuzz")
            rule_set.load()
            app = create_app(settings, pool, rule_set=rule_set)
            with pool.connection() as conn:
                tokens = {role: users.create_session(conn, user_ids[role], 3600)[0] for role in ROLES}
            yield Seeded(url, pool, app, tokens, user_ids, ids)
        finally:
            shutdown_lifespans()  # schemathesis keeps the app's lifespan (the case event feed) running
            pool.close()


# -- what every answer must satisfy ---------------------------------------------------------------------


def leaks(role: str, user_id: int, path: str, body: Any) -> list[str]:
    """Anything in an answer that lies outside the caller's scope."""
    scope = SCOPE[role]
    found: list[str] = []
    if scope is None:
        return found
    for listing in ("sites", "communities"):
        if path == f"{API}/{listing}":
            found += [f"{listing} {s.get('id')}" for s in body if s.get("id") not in scope]
        if path.startswith(f"{API}/{listing}/") and isinstance(body, dict) and body.get("id") not in scope:
            found.append(f"{listing} {body.get('id')}")
    if path.startswith(f"{API}/users"):
        accounts = body if isinstance(body, list) else [body.get("user", body)]
        found += [
            f"user {a['username']}" for a in accounts if "username" in a and not set(a["communities"]) & scope
        ]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            community = node.get("community_id")
            if community is not None and community not in scope:
                found.append(f"community_id {community} in {sorted(node)[:6]}")
            if (
                role == "resident"
                and node.get("source") in ("resident", "operator")
                and "reporter_id" in node
                and node["reporter_id"] != user_id
            ):
                found.append(f"someone else's report {node.get('id')}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body)
    return found


def operations() -> list[tuple[str, str]]:
    app = create_app(Settings(environment="test"), ConnectionPool("", open=False))
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)
    ops = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        ops.append((result.ok().method.upper(), result.ok().path))
    return sorted(op for op in ops if f"{op[0]} {op[1]}" not in SKIPPED)


@pytest.fixture(scope="module")
def schema(seeded: Seeded) -> Any:
    return schemathesis.openapi.from_asgi(f"{API}/openapi.json", seeded.app)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), operations(), ids=lambda v: v)
def test_fuzzed_requests_never_fail_with_5xx_or_leak_another_community(
    seeded: Seeded, schema: Any, role: str, method: str, path: str
) -> None:
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {seeded.tokens[role]}"}
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    problems: list[str] = []

    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        where = f"{role}: {case.as_curl_command(headers=headers)}"
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the in-process app re-raises what a server would answer with 500
            problems.append(f"500 ({type(exc).__name__}: {str(exc)[:300]}) from {where}")
            return
        if response.status_code >= 500:
            problems.append(f"{response.status_code} from {where}\n{response.text[:500]}")
            return
        if 200 <= response.status_code < 300 and "json" in response.headers.get("content-type", ""):
            found = leaks(role, seeded.user_ids[role], case.formatted_path, response.json())
            if found:
                problems.append(f"leak {found} from {where}")

    run()
    assert problems == [], "\n\n".join(problems[:5])


# -- the other community's records, asked for by their real ids ------------------------------------------


@pytest.fixture(scope="module")
def api(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(seeded.app) as c:
        yield c


def as_role(seeded: Seeded, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[role]}"}


def refused_as_admin(seeded: Seeded, api: TestClient, method: str, path: str, params: Any, body: Any) -> str:
    """The message of the 422 the admin's request must get."""
    r = api.request(method, path, params=params, json=body, headers=as_role(seeded, "admin"))
    assert r.status_code == 422, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    return str(r.json()["error"]["message"])


def other_community_paths(seeded: Seeded) -> list[str]:
    """Every GET route with parameters, filled with the ids of community stb's records."""
    values = {
        "device_id": "stb-sd1",
        "case_id": seeded.ids["stb_operator_case"],
        "attachment_id": seeded.ids["stb_attachment"],
        "community": "stb",
    }
    paths = []
    for method, path in operations():
        params = re.findall(r"{(\w+)}", path)
        public = path.startswith(f"{API}/public/")  # anonymous by design; tests/test_kpis_api.py covers it
        if method == "GET" and params and all(p in values for p in params) and not public:
            paths.append(re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path))
    return paths


@pytest.mark.parametrize("role", ["manager", "resident"])
def test_records_of_another_community_look_absent(seeded: Seeded, api: TestClient, role: str) -> None:
    headers = as_role(seeded, role)
    paths = other_community_paths(seeded)
    assert f"{API}/devices/stb-sd1/telemetry" in paths and f"{API}/sites/stb" in paths
    for path in paths:
        r = api.get(path, headers=headers)
        assert r.status_code in (403, 404), (path, r.status_code, r.text[:300])
    stb_case = seeded.ids["stb_case"]
    for method, path, body in [
        ("POST", f"{API}/cases/{stb_case}/actions", {"action": "acknowledge"}),
        ("POST", f"{API}/cases/{stb_case}/rating", {"stars": 5}),
        (
            "POST",
            f"{API}/cases",
            {"community": "stb", "category": "lighting", "description": "x", "grid": "g1"},
        ),
        ("DELETE", f"{API}/silences/{seeded.ids['stb_silence']}", None),
    ]:
        r = api.request(method, path, json=body, headers=headers)
        assert r.status_code in (403, 404, 422), (method, path, r.status_code, r.text[:300])
    with psycopg.connect(seeded.url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM case_events WHERE case_id = %s AND actor IN ('st-manager', 'st-resident')",
            (stb_case,),
        ).fetchone() == (0,)


def test_the_sweep_sees_its_own_communitys_records(seeded: Seeded, api: TestClient) -> None:
    """The same requests for community sta answer 200, so the refusals above are about scope."""
    headers = as_role(seeded, "manager")
    for path in other_community_paths(seeded):
        own = re.sub(r"\bstb\b", "sta", path)
        if "/cases/" in own:
            continue
        r = api.get(own, headers=headers)
        assert r.status_code == 200, (own, r.status_code, r.text[:300])


def test_a_resident_sees_no_neighbours_report(seeded: Seeded, api: TestClient) -> None:
    headers = as_role(seeded, "resident")
    assert api.get(f"{API}/cases/{seeded.ids['sta_neighbour_case']}", headers=headers).status_code == 404
    assert api.get(f"{API}/cases/{seeded.ids['sta_resident_case']}", headers=headers).status_code == 200
    listed = {c["id"] for c in api.get(f"{API}/cases", params={"limit": 500}, headers=headers).json()}
    assert seeded.ids["sta_resident_case"] in listed and seeded.ids["sta_case"] in listed
    assert seeded.ids["sta_neighbour_case"] not in listed and seeded.ids["stb_case"] not in listed


# -- regressions of what the fuzzing found ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "where"),
    [
        ("POST", f"{API}/auth/login", None, {"username": "a\u0000b", "password": "x"}, "body"),
        ("GET", f"{API}/devices/a%00b", None, None, "path"),
        ("GET", f"{API}/devices", {"community": "a\x00b"}, None, "query"),
        ("POST", f"{API}/silences", None, {"rule_id": "r", "ends_at": "2999-01-01T00:00:00Z", "reason": "a\u0000b"}, "body"),
        ("GET", f"{API}/cases", {"team": "a\x00b"}, None, "query"),
    ],
)  # fmt: skip
def test_nul_characters_are_refused_with_422_before_any_route(
    seeded: Seeded, api: TestClient, method: str, path: str, params: Any, body: Any, where: str
) -> None:
    assert f"the {where} contains a NUL character" in refused_as_admin(
        seeded, api, method, path, params, body
    )
    # an escaped backslash followed by `u0000` is text, not a NUL
    ok = api.post(
        f"{API}/silences",
        json={"rule_id": "r\\u0000", "ends_at": "2999-01-01T00:00:00Z", "reason": "backslash"},
        headers=as_role(seeded, "admin"),
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "message"),
    [
        ("POST", f"{API}/silences", None, {"device_id": "no-such-device", "ends_at": "2999-01-01T00:00:00Z", "reason": "abc"}, "no device no-such-device"),
        ("POST", f"{API}/silences", None, {"community_id": "nowhere", "ends_at": "2999-01-01T00:00:00Z", "reason": "abc"}, "no community nowhere"),
        ("POST", f"{API}/silences", None, {"rule_id": "r", "starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "2999-01-01T00:00:00Z", "reason": "abc"}, "between 1970 and 9000"),
        ("POST", f"{API}/silences", None, {"rule_id": "r", "ends_at": "9999-12-31T23:59:59-14:00", "reason": "abc"}, "between 1970 and 9000"),
        ("GET", f"{API}/devices/sta-sd1/telemetry", {"from": "0001-01-01T00:00:00+14:00", "to": "0001-01-02T00:00:00"}, None, "between the years 1 and 9999"),
        ("GET", f"{API}/devices/sta-sd1/telemetry", {"to": "0001-01-01T05:00:00"}, None, "between the years 1 and 9999"),
        ("GET", f"{API}/devices", {"offset": 10**30}, None, "offset"),
    ],
)  # fmt: skip
def test_values_the_database_cannot_take_are_422_not_500(
    seeded: Seeded, api: TestClient, method: str, path: str, params: Any, body: Any, message: str
) -> None:
    assert message in refused_as_admin(seeded, api, method, path, params, body)


def test_a_battery_threshold_too_small_for_a_real_is_taken_as_it_is(seeded: Seeded, api: TestClient) -> None:
    """The fuzzer's 7.19e-141 % underflowed PostgreSQL's `real` (a 500): compared as a double it lists
    no device with a battery below it."""
    r = api.get(
        f"{API}/devices", params={"battery_below": "7.19545907255321e-141"}, headers=as_role(seeded, "admin")
    )
    assert r.status_code == 200, r.text
    assert r.json() == []
