"""Every provisioned Grafana panel's SQL runs against a real TimescaleDB database with the hub's schema.

Grafana expands its macros and template variables before sending a query; a small translator here does
the same (`$__timeFilter(col)` → a real time range, `$__timeGroupAlias(col, '1m')` → `time_bucket(…) AS
"time"`, `$community` → a quoted list), so a query with a typo, a renamed column or a wrong macro fails
here instead of as an empty panel. The data seeded for one community makes every panel return rows.
"""

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.support.services import ROOT

DASHBOARDS = ROOT / "dashboards" / "grafana" / "dashboards"
DATASOURCE = ROOT / "dashboards" / "grafana" / "provisioning" / "datasources" / "timescaledb.yaml"
NOW = datetime.now(UTC).replace(microsecond=0)
FROM, TO = NOW - timedelta(days=2), NOW + timedelta(minutes=1)
UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
INTERVAL = "1m"  # what $__interval stands for in these tests


def to_interval(text: str) -> str:
    """Grafana's interval notation ('5m', '1d', '$__interval') as a PostgreSQL interval literal."""
    text = text.strip().strip("'\"")
    if text == "$__interval":
        text = INTERVAL
    found = re.fullmatch(r"(\d+)([smhdw])", text)
    assert found, f"unsupported interval {text!r}"
    return f"'{found[1]} {UNITS[found[2]]}'"


def translate(sql: str, variables: dict[str, list[str]]) -> str:
    """Grafana's PostgreSQL macros and template variables, as the data source expands them."""
    col = r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*"
    arg = r"\s*('[^']*'|\$__interval|[0-9]+[smhdw])\s*"
    t0, t1 = f"'{FROM.isoformat()}'::timestamptz", f"'{TO.isoformat()}'::timestamptz"
    sql = re.sub(rf"\$__timeFilter\({col}\)", rf"\1 BETWEEN {t0} AND {t1}", sql)
    sql = re.sub(r"\$__timeFrom\(\)", t0, sql)
    sql = re.sub(r"\$__timeTo\(\)", t1, sql)
    sql = re.sub(
        rf"\$__timeGroupAlias\({col},{arg}(?:,[^)]*)?\)",
        lambda m: f'time_bucket({to_interval(m[2])}, {m[1]}) AS "time"',
        sql,
    )
    sql = re.sub(
        rf"\$__timeGroup\({col},{arg}(?:,[^)]*)?\)",
        lambda m: f"time_bucket({to_interval(m[2])}, {m[1]})",
        sql,
    )
    sql = sql.replace("$__interval", to_interval("$__interval"))
    for name, values in variables.items():
        quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
        sql = re.sub(rf"\$\{{{name}(?::[a-z]+)?\}}|\${name}\b", quoted, sql)
    assert "$" not in sql, f"an unknown macro or variable is left: {sql}"
    return sql


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    format: str
    sql: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.panel}"


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _targets() -> list[Target]:
    return [
        Target(name, panel["title"], target.get("format", "time_series"), target["rawSql"])
        for name, board in _dashboards().items()
        for panel in _panels(board)
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


TARGETS = _targets()


def test_three_dashboards_on_the_provisioned_timescaledb_source() -> None:
    boards = _dashboards()
    assert set(boards) == {"telemetry.json", "ingest-health.json", "case-kpis.json"}
    (source,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        assert board["title"] and board["schemaVersion"] >= 36, name
        ids = [p["id"] for p in _panels(board)]
        assert len(set(ids)) == len(ids), f"{name}: panel ids repeat"
        cells: set[tuple[int, int]] = set()
        for panel in _panels(board):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, f"{name}: {panel['title']} is off the grid"
            mine = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & mine, f"{name}: {panel['title']} overlaps another panel"
            cells |= mine
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": source["type"], "uid": source["uid"]}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["rawQuery"] and target["datasource"]["uid"] == source["uid"]
                assert target["format"] in {"time_series", "table"}
        for variable in board["templating"]["list"]:
            assert variable["datasource"]["uid"] == source["uid"]


def test_the_translator_expands_grafana_macros() -> None:
    sql = translate(
        "SELECT $__timeGroupAlias(e.at, '1d'), x FROM t WHERE $__timeFilter(e.at) AND c IN ($community) "
        "AND $__timeGroup(time, $__interval) IS NOT NULL AND d IN (${community:sqlstring})",
        {"community": ["a", "o'k"]},
    )
    assert "time_bucket('1 day', e.at) AS \"time\"" in sql
    assert "time_bucket('1 minute', time)" in sql
    assert f"e.at BETWEEN '{FROM.isoformat()}'::timestamptz" in sql
    assert sql.count("'a','o''k'") == 2
    with pytest.raises(AssertionError, match="unknown macro"):
        translate("SELECT $__unixEpochNanoFilter(t)", {})


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[tuple[psycopg.Connection[Any], dict[str, list[str]]]]:
    """One community with a device of each kind, readings, events, dead letters, status changes, and cases
    in every state with their events, an escalation, an overdue case and a rating."""
    c = f"graf-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO communities (id, name) VALUES (%s, 'Grafana Garden')", (c,))
        devices = {k: f"{c}-{k}" for k in ("smoke_detector", "lamppost", "manhole", "access_gate")}
        for kind, device in devices.items():
            conn.execute(
                "INSERT INTO devices (id, kind, community_id, building) VALUES (%s, %s, %s, 'b1')",
                (device, kind, c),
            )
        silent = f"{c}-silent"
        conn.execute("INSERT INTO devices (id, kind, community_id) VALUES (%s, 'manhole', %s)", (silent, c))
        conn.execute(
            "INSERT INTO device_state (device_id, last_seen, online, battery_pct) VALUES (%s, %s, true, 12), "
            "(%s, %s, false, 80)",
            (devices["smoke_detector"], NOW, devices["manhole"], NOW - timedelta(hours=2)),
        )
        for i in range(30):
            t = NOW - timedelta(minutes=3 * i)
            r = t + timedelta(seconds=1 + i % 4)
            d = devices
            conn.execute(
                "INSERT INTO telemetry_smoke VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, -70)",
                (t, d["smoke_detector"], i, r, c, 0.1 + i / 10, 21 + i / 3, 80 - i, i == 3, i == 4, i == 5),
            )
            conn.execute(
                "INSERT INTO telemetry_lamppost (time, device_id, seq, received_at, community_id, lamp_on, "
                "dim_level_pct, power_w, voltage_v, current_a, pole_tilt_deg, cabinet_door_open, pm25_ug_m3, "
                "noise_db, emergency_call) VALUES (%s, %s, %s, %s, %s, %s, 80, 96, 221, 0.44, 0.3, false, 31, 52, false)",
                (t, d["lamppost"], i, r, c, i % 2 == 0),
            )
            conn.execute(
                "INSERT INTO telemetry_manhole (time, device_id, seq, received_at, community_id, tilt_deg, "
                "cover_open, water_level_cm, ch4_pct_lel, h2s_ppm, battery_pct) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1.5, 0.4, 70)",
                (t, d["manhole"], i, r, c, 15 if i == 7 else 0.5, i == 8, 20 + i),
            )
            conn.execute(
                "INSERT INTO telemetry_gate (time, device_id, seq, received_at, community_id, door_open, uptime_s) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (t, d["access_gate"], i, r, c, i % 3 == 0, 1000 + i),
            )
            conn.execute(
                "INSERT INTO access_events VALUES (%s, %s, %s, %s, %s, %s, 'card', 'in', 'p1')",
                (t, d["access_gate"], i, r, c, "granted" if i % 4 else "denied"),
            )
            conn.execute(
                "INSERT INTO device_events (time, device_id, seq, received_at, community_id, event) "
                "VALUES (%s, %s, %s, %s, %s, 'self_test')",
                (t, d["smoke_detector"], i, r, c),
            )
        reason = f"grafana test reason {c}"
        for i in range(2):
            conn.execute(
                "INSERT INTO dead_letters (received_at, topic, client_id, reason, payload_head, payload_size) "
                "VALUES (%s, %s, 'x', %s, %s, 3)",
                (
                    NOW - timedelta(minutes=i),
                    f"sc/v1/{c}/smoke_detector/{silent}/telemetry",
                    reason,
                    b"\x00{}",
                ),
            )
        conn.execute(
            "INSERT INTO device_status_history (time, device_id, online, reason) VALUES (%s, %s, false, 'test'), "
            "(%s, %s, true, 'test')",
            (NOW - timedelta(hours=3), devices["manhole"], NOW - timedelta(hours=1), devices["manhole"]),
        )
        user = conn.execute(
            "INSERT INTO users (username, password_hash, role, communities) VALUES (%s, 'x', 'resident', %s) "
            "RETURNING id",
            (f"{c}-resident", [c]),
        ).fetchone()
        assert user is not None
        statuses = ["dispatched", "acknowledged", "in_progress", "resolved", "closed", "cancelled"]
        for n, status in enumerate(statuses):
            created = NOW - timedelta(days=1, hours=n)
            acked = created + timedelta(minutes=3 + n) if status != "dispatched" else None
            resolved = created + timedelta(hours=2) if status in ("resolved", "closed") else None
            case = conn.execute(
                "INSERT INTO cases (title, category, severity, status, source, subject, community_id, team, "
                "created_at, updated_at, ack_due_at, resolve_due_at, acknowledged_at, resolved_at, reporter_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'grafana-test-team', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    f"case {n}",
                    "fire" if n % 2 else "lighting",
                    "critical" if n < 2 else "minor",
                    status,
                    "alert" if n % 2 else "resident",
                    f"{c}-subject-{n}",
                    c,
                    created,
                    created,
                    created + timedelta(minutes=5),
                    created + timedelta(hours=3),
                    acked,
                    resolved,
                    user[0] if n % 2 == 0 else None,
                ),
            ).fetchone()
            assert case is not None
            events = [("opened", created), ("dispatched", created)]
            if acked:
                events.append(("acknowledged", acked))
            if resolved:
                events.append(("resolved", resolved))
            if status == "closed":
                assert resolved is not None
                events.append(("closed", resolved + timedelta(minutes=10)))
            if status == "cancelled":
                events.append(("cancelled", created + timedelta(minutes=30)))
            if n == 0:
                events.append(("escalated", created + timedelta(minutes=6)))
            for action, at in events:
                conn.execute(
                    "INSERT INTO case_events (case_id, at, actor, action) VALUES (%s, %s, 'system', %s)",
                    (case[0], at, action),
                )
            if status == "resolved":
                conn.execute(
                    "INSERT INTO case_ratings (case_id, resident_id, stars, created_at) VALUES (%s, %s, 4, %s)",
                    (case[0], user[0], NOW - timedelta(hours=1)),
                )
        yield conn, {"community": [c], "reason": [reason]}


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_every_panel_query_runs_and_returns_rows(
    seeded: tuple[psycopg.Connection[Any], dict[str, list[str]]], target: Target
) -> None:
    conn, variables = seeded
    sql = translate(target.sql, {"community": variables["community"]})
    try:
        cur = conn.execute(sql)
    except psycopg.Error as exc:
        pytest.fail(f"{target}: {exc}\n{sql}")
    assert cur.description is not None
    columns = [d.name for d in cur.description]
    rows = cur.fetchall()
    assert rows, f"{target} returned no rows over the seeded data"
    if target.format == "time_series":
        assert columns[0] == "time", f"{target}: a time series needs `time` as its first column"
        assert all(isinstance(r[0], datetime) for r in rows)
        assert [r[0] for r in rows] == sorted(r[0] for r in rows), f"{target}: order by time"
        values = [i for i, name in enumerate(columns) if name not in ("time", "metric")]
        assert values, f"{target}: no value column"
        for row in rows:
            for i in values:
                assert row[i] is None or isinstance(row[i], int | float | Decimal), f"{target}: {columns[i]}"


def test_template_variables_list_the_communities(
    seeded: tuple[psycopg.Connection[Any], dict[str, list[str]]],
) -> None:
    conn, variables = seeded
    for name, board in _dashboards().items():
        for variable in board["templating"]["list"]:
            cur = conn.execute(translate(variable["query"], {}))
            assert cur.description is not None
            assert [d.name for d in cur.description] == ["__value", "__text"], name
            assert (variables["community"][0], "Grafana Garden") in cur.fetchall()


def _run(conn: psycopg.Connection[Any], title: str, variables: dict[str, list[str]]) -> list[tuple[Any, ...]]:
    (target,) = [t for t in TARGETS if t.panel == title]
    return conn.execute(translate(target.sql, variables)).fetchall()


def test_panels_count_what_was_seeded(seeded: tuple[psycopg.Connection[Any], dict[str, list[str]]]) -> None:
    conn, variables = seeded
    scope = {"community": variables["community"]}
    by_reason = {r[0]: r[1] for r in _run(conn, "Dead letters by reason", scope)}
    assert by_reason[variables["reason"][0]] == 2
    table = {r[0]: r[1:] for r in _run(conn, "Cases by category and status", scope)}
    # category: waiting, in hand, resolved, closed, cancelled, total
    assert table == {"lighting": (1, 1, 0, 1, 0, 3), "fire": (0, 1, 1, 0, 1, 3)}
    open_by_status = dict(_run(conn, "Open cases by status", scope))
    assert open_by_status == {"dispatched": 1, "acknowledged": 1, "in_progress": 1}
    flow = _run(conn, "Cases opened and finished per day", scope)
    totals: dict[str, int] = {}
    for _, action, n in flow:
        totals[action] = totals.get(action, 0) + n
    assert totals == {"opened": 6, "resolved": 2, "closed": 1, "cancelled": 1}
    (rating,) = _run(conn, "Residents' rating", scope)
    assert (float(rating[0]), rating[1]) == (4.0, 1)
    access = _run(conn, "Access events", scope)
    assert sum(r[1] for r in access) == 22 and sum(r[2] for r in access) == 8
    smoke = _run(conn, "Smoke detectors below 20 % battery (latest reading)", scope)
    assert [r[0] for r in smoke] == [f"{variables['community'][0]}-smoke_detector"]


def test_dashboard_files_are_what_grafana_provisions() -> None:
    provider = yaml.safe_load(
        (ROOT / "dashboards" / "grafana" / "provisioning" / "dashboards" / "hub.yaml").read_text()
    )["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert all(isinstance(json.loads(Path(p).read_text()), dict) for p in DASHBOARDS.glob("*.json"))
