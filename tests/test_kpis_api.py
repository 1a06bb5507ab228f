"""Case KPIs through the API (in-process app, real database): a month of cases seeded with known
timestamps, events, ratings and alerts straight into the tables; the expected figures are computed here
from the seed, independently of hub.cases.kpis, and some are also written out by hand. Then scope, the
monthly CSV and HTML reports, and the public summary (no token, nothing personal, small counts hidden)."""

import csv
import io
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import API, app_client, login

SHANGHAI = ZoneInfo("Asia/Shanghai")
# October 2026 in the hub's time zone (the calendar's, Asia/Shanghai: UTC+8, no summer time)
START = datetime(2026, 9, 30, 16, tzinfo=UTC)
END = datetime(2026, 10, 31, 16, tzinfo=UTC)
MONTH = "2026-10"
SECRET = "kx-secret-description-7f3a"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass
class Spec:
    """One seeded case: `events` are (offset from created_at, action, to_status, note); an approved
    extension is an event `deadline_extended`. `suspensions` are (start, end or None) offsets from
    created_at; `ack` is the acknowledgement limit."""

    name: str
    category: str
    team: str | None
    grid: str | None
    severity: str
    source: str
    created: datetime
    due: timedelta | None
    events: list[tuple[timedelta, str, str | None, str | None]]
    status_now: str
    stars: list[tuple[timedelta, int]] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    cancel_reason: str | None = None
    suspensions: list[tuple[timedelta, timedelta | None]] = field(default_factory=list)
    ack: timedelta = 30 * M

    @property
    def resolve_due_at(self) -> datetime | None:
        return None if self.due is None else self.created + self.due

    @property
    def ack_due_at(self) -> datetime:
        return self.created + self.ack


def opened(
    *more: tuple[timedelta, str, str | None, str | None],
) -> list[tuple[timedelta, str, str | None, str | None]]:
    return [(0 * M, "opened", "new", "seeded"), (0 * M, "dispatched", "dispatched", None), *more]


def specs() -> list[Spec]:
    return [
        Spec("A", "fire", "fire-safety", "g1", "critical", "alert", utc("2026-10-02T10:00"), 2 * H,
             opened((5 * M, "acknowledged", "acknowledged", None), (10 * M, "started", "in_progress", None),
                    (11 * M, "alert_joined", None, "second alert"), (60 * M, "resolved", "resolved", "fixed"),
                    (90 * M, "closed", "closed", None)),
             "closed", stars=[(2 * H, 5), (3 * H, 4)], alerts=[("smoke-alarm", "sd1"), ("smoke-heat", "sd1")]),
        Spec("B", "fire", "fire-safety", "g1", "critical", "alert", utc("2026-10-03T08:00"), 2 * H,
             opened((3 * M, "cancelled", "cancelled", "False alarm: cooking smoke")),
             "cancelled", alerts=[("smoke-alarm", "sd2")], cancel_reason="False alarm: cooking smoke"),
        Spec("C", "lighting", "lighting", "g2", "minor", "alert", utc("2026-10-05T12:00"), 2 * D,
             opened((30 * M, "claimed", "acknowledged", "from the queue"), (40 * M, "started", "in_progress", None),
                    (D, "resolved", "resolved", "lamp"), (D + 2 * H, "reopened", "reopened", "still dark"),
                    (D + 3 * H, "started", "in_progress", None), (3 * D, "resolved", "resolved", "cable"),
                    (3 * D + H, "closed", "closed", None)),
             "closed", stars=[(4 * D, 2)], alerts=[("lamp-power-mismatch", "lp1")]),
        Spec("D", "lighting", "lighting", "g2", "minor", "resident", utc("2026-10-06T09:00"), 2 * D,
             opened((H, "deadline_extended", None, "parts on order"),
                    (2 * H, "acknowledged", "acknowledged", None), (150 * M, "started", "in_progress", None),
                    (D, "resolved", "resolved", "bulb")),
             "resolved", stars=[(2 * D, 4)], suspensions=[(3 * H, 5 * H)]),
        # extended, then suspended from the 10th until 5 November: suspended over the end of October
        Spec("E", "infrastructure", "street-works", None, "major", "operator", utc("2026-10-10T00:00"), 8 * H,
             opened((30 * M, "deadline_extended", None, "road closure"),
                    (9 * H, "escalated", None, "resolve deadline missed")), "dispatched",
             suspensions=[(10 * H, utc("2026-11-05T00:00") - utc("2026-10-10T00:00"))]),
        Spec("F", "infrastructure", "street-works", "g1", "major", "alert", utc("2026-10-12T00:00"), 8 * H,
             opened((10 * M, "acknowledged", "acknowledged", None), (20 * M, "cancelled", "cancelled", "duplicate")),
             "cancelled", alerts=[("manhole-cover", "mh1")], cancel_reason="duplicate"),
        Spec("G", "lighting", "lighting", "g2", "minor", "alert", utc("2026-10-20T00:00"), 8 * H,
             opened((15 * M, "cancelled", "cancelled", "false_alarm")),
             "cancelled", alerts=[("lamp-power-mismatch", "lp1")], cancel_reason="false_alarm"),
        # created on Oct 31 local time; closed and rated in November: as of the month's end only resolved
        Spec("H", "fire", "fire-safety", "g1", "critical", "resident", utc("2026-10-31T07:00"), 2 * H,
             opened((2 * M, "acknowledged", "acknowledged", None), (5 * M, "started", "in_progress", None),
                    (40 * M, "resolved", "resolved", "extinguished"), (D + 18 * H, "deadline_extended", None, "x"),
                    (2 * D, "closed", "closed", None)),
             "closed", stars=[(3 * D, 1)]),
        # 01:00 on Oct 1 in Shanghai: in October although it is still September in UTC
        Spec("I", "infrastructure", "contractor-x", "g1", "minor", "operator", utc("2026-09-30T17:00"), 2 * D,
             opened((H, "acknowledged", "acknowledged", None), (2 * H, "started", "in_progress", None),
                    (3 * H, "resolved", "resolved", "kerb"), (4 * H, "closed", "closed", None)),
             "closed", stars=[(5 * H, 3)]),
        # outside the month: Nov 1 00:30 and Sep 30 23:00 in Shanghai
        Spec("J", "fire", "fire-safety", "g1", "critical", "alert", utc("2026-10-31T16:30"), 2 * H,
             opened((M, "acknowledged", "acknowledged", None)), "acknowledged", alerts=[("smoke-alarm", "sd1")]),
        Spec("K", "lighting", "lighting", "g2", "minor", "operator", utc("2026-09-30T15:00"), 2 * D,
             opened((M, "cancelled", "cancelled", "false alarm")), "cancelled", cancel_reason="false alarm"),
        # duplicates: a second detector's case absorbed into A's, a resident's report merged into C
        Spec("P", "fire", "fire-safety", "g1", "critical", "alert", utc("2026-10-02T10:01"), 2 * H,
             opened((M, "absorbed", "cancelled", "absorbed into case #A")), "cancelled",
             alerts=[("smoke-alarm", "sd3")], cancel_reason="absorbed into case #A"),
        Spec("Q", "lighting", "lighting", "g2", "minor", "resident", utc("2026-10-05T12:30"), 2 * D,
             opened((5 * M, "merged", "cancelled", "merged into #C")), "cancelled", cancel_reason="merged into #C"),
    ]  # fmt: skip


# -- the expected figures, from the seed alone ------------------------------------------------------------


def suspended_at(s: Spec, as_of: datetime) -> bool:
    return any(
        s.created + start < as_of and (end is None or s.created + end >= as_of)
        for start, end in s.suspensions
    )


def facts(s: Spec, as_of: datetime) -> dict[str, Any]:
    changes = [
        (s.created + off, to, action)
        for off, action, to, _ in s.events
        if to is not None and s.created + off < as_of
    ]
    moves = [(at, to) for at, to, _ in changes]
    status = moves[-1][1]
    ack = min((at for at, to in moves if to == "acknowledged"), default=None)
    resolved_ats = [at for at, to in moves if to == "resolved"]
    resolved = resolved_ats[-1] if status in ("resolved", "closed") else None
    closed = moves[-1][0] if status == "closed" else None
    cancel_note = next((n for off, _, to, n in reversed(s.events) if to == "cancelled"), None)
    return {
        "status": status,
        "ack": ack,
        "resolved": resolved,
        "closed": closed,
        "ever_resolved": bool(resolved_ats),
        "reopened": any(to == "reopened" for _, to in moves),
        "false_alarm": status == "cancelled" and "false" in (cancel_note or "").lower(),
        "stars": [st for off, st in s.stars if s.created + off < as_of],
        "suspended": suspended_at(s, as_of),
        "extended": any(a == "deadline_extended" and s.created + off < as_of for off, a, _, _ in s.events),
        "duplicate": status == "cancelled" and changes[-1][2] in ("merged", "absorbed"),
    }


def nearest_rank_p90(values: list[float]) -> float | None:
    """The smallest value with at least 90 % of the values at or below it."""
    if not values:
        return None
    return min(v for v in values if sum(1 for w in values if w <= v) >= 0.9 * len(values))


def expected(seeded: list[Spec], start: datetime, as_of: datetime) -> dict[str, Any]:
    """Duplicates (merged or absorbed into another case) are counted and left out of every other figure."""
    f = {s.name: facts(s, as_of) for s in seeded}
    cases = [s for s in seeded if not f[s.name]["duplicate"]]
    closed = [s for s in cases if f[s.name]["closed"] is not None]
    due = [
        s
        for s in cases
        if f[s.name]["status"] != "cancelled"
        and ((s.resolve_due_at is not None and start <= s.resolve_due_at < as_of) or f[s.name]["closed"])
    ]
    counted = [s for s in due if f[s.name]["closed"] or not f[s.name]["suspended"]]
    closed_on_time = [s for s in closed if s.resolve_due_at and f[s.name]["closed"] <= s.resolve_due_at]
    extended = [s for s in due if f[s.name]["extended"]]
    ack_due = [
        s
        for s in cases
        if f[s.name]["status"] != "cancelled"
        and (f[s.name]["ack"] or (start <= s.ack_due_at < as_of and not f[s.name]["suspended"]))
    ]
    acked_in_time = [s for s in ack_due if f[s.name]["ack"] and f[s.name]["ack"] <= s.ack_due_at]
    resolved = [s for s in cases if f[s.name]["resolved"] is not None]
    with_deadline = [s for s in resolved if s.resolve_due_at is not None]
    on_time = [s for s in with_deadline if f[s.name]["resolved"] <= s.resolve_due_at]
    acks = [(f[s.name]["ack"] - s.created).total_seconds() for s in cases if f[s.name]["ack"] is not None]
    fixes = [(f[s.name]["resolved"] - s.created).total_seconds() for s in resolved]
    ever = [s for s in cases if f[s.name]["ever_resolved"]]
    reworked = [s for s in ever if f[s.name]["reopened"]]
    stars = [st for s in cases for st in f[s.name]["stars"]]
    alert_cases = [s for s in cases if s.source == "alert"]
    false_alarms = [s for s in alert_cases if f[s.name]["false_alarm"]]

    def rate(n: list[Any], d: list[Any]) -> float | None:
        return len(n) / len(d) if d else None

    return {
        "opened": len(cases),
        "duplicates": len(seeded) - len(cases),
        "emergencies": sum(1 for s in cases if s.severity == "critical"),
        "cancelled": sum(1 for s in cases if f[s.name]["status"] == "cancelled"),
        "closed": len(closed),
        "due": len(due),
        "suspended": len(due) - len(counted),
        "closure_rate": rate(closed, counted),
        "closed_on_time": len(closed_on_time),
        "on_time_closure_rate": rate(closed_on_time, counted),
        "extended": len(extended),
        "extension_rate": rate(extended, due),
        "resolved": len(resolved),
        "resolved_with_deadline": len(with_deadline),
        "resolved_on_time": len(on_time),
        "on_time_rate": rate(on_time, with_deadline),
        "acknowledged": len(acks),
        "ack_due": len(ack_due),
        "acknowledged_in_time": len(acked_in_time),
        "response_rate": rate(acked_in_time, ack_due),
        "ack_seconds_mean": sum(acks) / len(acks) if acks else None,
        "ack_seconds_p90": nearest_rank_p90(acks),
        "resolve_seconds_mean": sum(fixes) / len(fixes) if fixes else None,
        "resolve_seconds_p90": nearest_rank_p90(fixes),
        "ever_resolved": len(ever),
        "reworked": len(reworked),
        "rework_rate": rate(reworked, ever),
        "ratings": len(stars),
        "rating_avg": sum(stars) / len(stars) if stars else None,
        "satisfied": sum(1 for st in stars if st >= 4),
        "satisfaction_rate": sum(1 for st in stars if st >= 4) / len(stars) if stars else None,
        "alert_cases": len(alert_cases),
        "false_alarms": len(false_alarms),
        "false_alarm_rate": rate(false_alarms, alert_cases),
    }


def in_month(cases: list[Spec]) -> list[Spec]:
    return [s for s in cases if START <= s.created < END]


def assert_block(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) - {"key"} == set(want)
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value), name
        else:
            assert got[name] == value, name


# -- seeding ----------------------------------------------------------------------------------------------


def new_community(conn: psycopg.Connection[Any]) -> str:
    name = f"kx-{uuid.uuid4().hex[:8]}"
    conn.execute("INSERT INTO communities (id, name) VALUES (%s, %s)", (name, f"Community {name}"))
    return name


def new_user(conn: psycopg.Connection[Any], role: str, communities: list[str]) -> tuple[int, str]:
    name = f"kx-{role}-{uuid.uuid4().hex[:6]}"
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role, communities) VALUES (%s, 'x', %s, %s) RETURNING id",
        (name, role, communities),
    ).fetchone()
    assert row is not None
    return int(row[0]), name


def seed(conn: psycopg.Connection[Any], community: str, cases: list[Spec]) -> dict[str, int]:
    devices = {dev for s in cases for _, dev in s.alerts}
    for dev in sorted(devices):
        conn.execute(
            "INSERT INTO devices (id, kind, community_id, grid) VALUES (%s, 'smoke_detector', %s, 'g1')",
            (f"{community}-{dev}", community),
        )
    raters = [new_user(conn, "resident", [community])[0] for _ in range(3)]
    reporter = new_user(conn, "resident", [community])[0]
    ids: dict[str, int] = {}
    for s in cases:
        row = conn.execute(
            "INSERT INTO cases (title, category, severity, status, source, subject, community_id, grid, team,"
            " created_at, updated_at, resolve_due_at, ack_due_at, description, reporter_id, cancel_reason,"
            " device_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                f"{SECRET} title {s.name}",
                s.category,
                s.severity,
                s.status_now,
                s.source,
                f"kx:{uuid.uuid4().hex}",
                community,
                s.grid,
                s.team,
                s.created,
                s.created,
                s.resolve_due_at,
                s.ack_due_at,
                f"{SECRET}: what the reporter wrote",
                reporter if s.source == "resident" else None,
                s.cancel_reason,
                f"{community}-{s.alerts[0][1]}" if s.alerts else None,
            ),
        ).fetchone()
        assert row is not None
        case_id = ids[s.name] = int(row[0])
        previous = None
        for off, action, to, note in s.events:
            conn.execute(
                "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note)"
                " VALUES (%s, %s, 'seed', %s, %s, %s, %s)",
                (case_id, s.created + off, action, previous, to, note),
            )
            previous = to or previous
        for rater, (off, stars) in zip(raters, s.stars, strict=False):
            conn.execute(
                "INSERT INTO case_ratings (case_id, resident_id, stars, comment, created_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (case_id, rater, stars, f"{SECRET} comment", s.created + off),
            )
        for start, end in s.suspensions:
            conn.execute(
                "INSERT INTO case_suspensions (case_id, reason, approved_by, started_at, ended_at)"
                " VALUES (%s, 'waiting for parts', 'seed', %s, %s)",
                (case_id, s.created + start, None if end is None else s.created + end),
            )
        for rule, dev in s.alerts:
            alert = conn.execute(
                "INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, grid, severity,"
                " category, title, status, started_at, opened_at, cleared_at, explanation)"
                " VALUES (%s, 'v1', %s, %s, %s, %s, %s, %s, 'seeded', 'cleared', %s, %s, %s, '{}'::jsonb)"
                " RETURNING id",
                (
                    rule,
                    f"{community}-{dev}",
                    f"{community}-{dev}",
                    community,
                    s.grid,
                    s.severity,
                    s.category,
                    s.created,
                    s.created,
                    s.created + H,
                ),
            ).fetchone()
            assert alert is not None
            conn.execute("INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s)", (case_id, alert[0]))
    return ids


# -- the app ----------------------------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    community: str
    other: str
    tokens: dict[str, dict[str, str]]
    cases: list[Spec]


@pytest.fixture(scope="module")
def world(database_url: str, setup_conn: psycopg.Connection[Any]) -> Iterator[World]:
    here, there = new_community(setup_conn), new_community(setup_conn)
    cases = specs()
    seed(setup_conn, here, cases)
    seed(setup_conn, there, [Spec("L", "gas", "gas-emergency", "g9", "critical", "alert", utc("2026-10-15T00:00"),
                                  H, opened(), "dispatched", alerts=[("manhole-gas", "mh9")])])  # fmt: skip
    people = {
        "admin": ("admin", ()),
        "operator": ("operator", ()),
        "integration": ("integration", ()),
        "manager": ("manager", (here,)),
        "stranger": ("manager", (there,)),
        "both": ("manager", (here, there)),
        "resident": ("resident", (here,)),
    }
    names = {key: f"kx-{key}-{uuid.uuid4().hex[:6]}" for key in people}
    users = {names[key]: who for key, who in people.items()}
    routing = "default_team: kx-desk\ncalendar: {timezone: Asia/Shanghai}\n"
    with app_client(database_url, routing=routing, users=users) as client:
        tokens = {key: login(client, name) for key, name in names.items()}
        yield World(client, here, there, tokens, cases)


def get_kpis(w: World, who: str = "admin", **params: Any) -> Any:
    query = {"community": w.community, "from": START.isoformat(), "to": END.isoformat()} | params
    return w.client.get(
        f"{API}/kpis", params={k: v for k, v in query.items() if v is not None}, headers=w.tokens[who]
    )


def get_report(w: World, kind: str, who: str = "admin", community: str | None = None) -> Any:
    """The monthly report of MONTH (`kind` is csv or html) for `community`, by default the seeded one."""
    params = {"month": MONTH, "community": community or w.community}
    return w.client.get(f"{API}/kpis/report.{kind}", params=params, headers=w.tokens[who])


# -- the KPIs ---------------------------------------------------------------------------------------------


def test_totals_match_figures_computed_from_the_seed(world: World) -> None:
    r = get_kpis(world)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["community"], body["group_by"]) == (world.community, "category")
    assert datetime.fromisoformat(body["from"]) == START and datetime.fromisoformat(body["to"]) == END
    assert datetime.fromisoformat(body["as_of"]) == END, "a past month is counted as of its end"
    month = in_month(world.cases)
    assert sorted(s.name for s in month) == list("ABCDEFGHIPQ")
    assert_block(body["totals"], expected(month, START, END))
    assert_block(body["emergencies"], expected([s for s in month if s.severity == "critical"], START, END))


def test_the_figures_written_out_by_hand(world: World) -> None:
    t = get_kpis(world).json()["totals"]
    # P (absorbed into A's case) and Q (merged into C) are duplicates: counted, and in nothing else
    assert t["duplicates"] == 2
    # closed: A, C, I (H closed only in November); due: A C D E H I (B F G were cancelled); E was
    # suspended over the end of the month (until 5 November), D's suspension ended on the day it began
    assert (t["opened"], t["emergencies"], t["closed"], t["due"], t["suspended"]) == (9, 3, 3, 6, 1)
    assert t["closure_rate"] == 3 / 5
    # closed by the deadline: A (90 min of 2 h) and I (4 h of 2 d), not C (3 d 1 h of 2 d)
    assert (t["closed_on_time"], t["on_time_closure_rate"]) == (2, 2 / 5)
    # extended: D and E; H's extension came in November
    assert (t["extended"], t["extension_rate"]) == (2, 2 / 6)
    # due to be acknowledged (limit 30 min): A C D H I, not E (suspended, never acknowledged), not the
    # cancelled B F G; in time A (5 min), C (30 min) and H (2 min), late D (2 h) and I (1 h)
    assert (t["ack_due"], t["acknowledged_in_time"], t["response_rate"]) == (5, 3, 3 / 5)
    # standing resolutions A C D H I; C's final one came a day late
    assert (t["resolved"], t["resolved_on_time"], t["on_time_rate"]) == (5, 4, 0.8)
    # acknowledged after 5, 30, 120, 10, 2 and 60 minutes
    assert t["ack_seconds_mean"] == pytest.approx((5 + 30 + 120 + 10 + 2 + 60) * 60 / 6)
    assert t["ack_seconds_p90"] == 120 * 60
    # resolved after 60 min, 3 d (the reopened C, to its second resolution), 1 d, 40 min, 3 h
    assert t["resolve_seconds_mean"] == pytest.approx((3600 + 3 * 86400 + 86400 + 2400 + 3 * 3600) / 5)
    assert t["resolve_seconds_p90"] == 3 * 86400
    assert (t["ever_resolved"], t["reworked"], t["rework_rate"]) == (5, 1, 0.2)
    # ratings 5 4 (A), 2 (C), 4 (D), 3 (I); H's came in November
    assert (t["ratings"], t["rating_avg"], t["satisfied"], t["satisfaction_rate"]) == (5, 3.6, 3, 0.6)
    # alert cases A B C F G; false alarms B ("False alarm: …") and G ("false_alarm"), not F ("duplicate")
    assert (t["alert_cases"], t["false_alarms"], t["false_alarm_rate"]) == (5, 2, 0.4)


def test_false_alarms_per_rule_and_per_device(world: World) -> None:
    fa = get_kpis(world).json()["false_alarms"]
    dev = f"{world.community}-"
    assert fa["by_rule"] == [
        {"key": "lamp-power-mismatch", "alert_cases": 2, "false_alarms": 1, "false_alarm_rate": 0.5},
        {"key": "smoke-alarm", "alert_cases": 2, "false_alarms": 1, "false_alarm_rate": 0.5},
        {"key": "manhole-cover", "alert_cases": 1, "false_alarms": 0, "false_alarm_rate": 0.0},
        {"key": "smoke-heat", "alert_cases": 1, "false_alarms": 0, "false_alarm_rate": 0.0},
    ]
    assert fa["by_device"] == [
        {"key": dev + "sd2", "alert_cases": 1, "false_alarms": 1, "false_alarm_rate": 1.0},
        {"key": dev + "lp1", "alert_cases": 2, "false_alarms": 1, "false_alarm_rate": 0.5},
        {"key": dev + "mh1", "alert_cases": 1, "false_alarms": 0, "false_alarm_rate": 0.0},
        {"key": dev + "sd1", "alert_cases": 1, "false_alarms": 0, "false_alarm_rate": 0.0},
    ]


@pytest.mark.parametrize("by", ["category", "community", "team", "grid"])
def test_breakdown_by_category_community_team_and_grid(world: World, by: str) -> None:
    body = get_kpis(world, group_by=by).json()
    month = in_month(world.cases)

    def key(s: Spec) -> str | None:
        return world.community if by == "community" else getattr(s, by)

    keys = {key(s) for s in month}
    assert {g["key"] for g in body["groups"]} == keys
    for g in body["groups"]:
        assert_block(g, expected([s for s in month if key(s) == g["key"]], START, END))
    assert sum(g["opened"] for g in body["groups"]) == body["totals"]["opened"]


def test_breakdown_per_community_over_a_managers_communities(world: World) -> None:
    body = get_kpis(world, "both", community=None, group_by="community").json()
    groups = {g["key"]: g for g in body["groups"]}
    assert set(groups) == {world.community, world.other}
    assert_block(groups[world.community], expected(in_month(world.cases), START, END))
    assert (groups[world.other]["opened"], groups[world.other]["due"]) == (1, 1)
    assert (groups[world.other]["ack_due"], groups[world.other]["response_rate"]) == (1, 0.0)


def test_a_period_still_running_counts_up_to_now(world: World) -> None:
    """`to` in the future: events and deadlines count up to now, and the deadline of case E (8 h after
    it opened) has not come yet when the period starts at its creation."""
    e = next(s for s in world.cases if s.name == "E")
    r = get_kpis(world, **{"from": e.created.isoformat(), "to": (datetime.now(UTC) + 30 * D).isoformat()})
    body = r.json()
    assert datetime.fromisoformat(body["as_of"]) <= datetime.now(UTC)
    later = [s for s in world.cases if s.created >= e.created]
    assert_block(body["totals"], expected(later, e.created, datetime.now(UTC)))


# -- who may read what ------------------------------------------------------------------------------------


def test_scope_managers_read_only_their_communities(world: World) -> None:
    assert get_kpis(world, "manager").status_code == 200
    for who in ("admin", "operator", "integration"):
        assert get_kpis(world, who).json()["totals"]["opened"] == 9, who
    refused = get_kpis(world, "stranger")
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == f"no community {world.community} in your communities"
    # without `community` a manager gets their own communities only
    own = get_kpis(world, "stranger", community=None).json()
    assert own["community"] is None and own["totals"]["opened"] == 1 and own["totals"]["emergencies"] == 1
    assert [g["key"] for g in own["groups"]] == ["gas"]
    assert [r["key"] for r in own["false_alarms"]["by_device"]] == [f"{world.other}-mh9"]
    mine = get_kpis(world, "manager", community=None).json()
    assert mine["totals"] == get_kpis(world, "manager").json()["totals"]
    # residents read the public summary instead; nobody reads without a token
    assert get_kpis(world, "resident").status_code == 403
    assert world.client.get(f"{API}/kpis").status_code == 401
    for kind in ("csv", "html"):
        assert world.client.get(f"{API}/kpis/report.{kind}", params={"month": MONTH}).status_code == 401
        assert get_report(world, kind, "stranger").status_code == 404, kind


def test_unknown_community_and_bad_periods_are_refused(world: World) -> None:
    assert get_kpis(world, community="kx-nowhere").status_code == 404
    assert get_kpis(world, **{"from": END.isoformat(), "to": START.isoformat()}).status_code == 422
    assert (
        get_kpis(world, **{"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}).status_code == 422
    )
    assert get_kpis(world, **{"from": "0001-01-01T00:00:00+14:00"}).status_code == 422
    assert get_kpis(world, group_by="building").status_code == 422
    for month in ("2026-13", "2026-1", "0001-01", "9999-12", "nov"):
        r = world.client.get(f"{API}/kpis/report.csv", params={"month": month}, headers=world.tokens["admin"])
        assert r.status_code == 422, month


# -- the monthly report -----------------------------------------------------------------------------------


def csv_value(text: str) -> Any:
    if text == "":
        return None
    return float(text) if any(c in text for c in ".e") or text in ("inf", "nan") else int(text)


def test_the_csv_report_parses_and_matches_the_api(world: World) -> None:
    r = get_report(world, "csv", "manager")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="kpis-{world.community}-{MONTH}.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert SECRET not in r.text
    assert {(row["month"], row["community"]) for row in rows} == {(MONTH, world.community)}
    fields = [f for f in rows[0] if f not in ("month", "community", "dimension", "key", "name")]

    def block(row: dict[str, str]) -> dict[str, Any]:
        return {f: csv_value(row[f]) for f in fields}

    by_dim: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_dim.setdefault(row["dimension"], {})[row["key"]] = block(row)
    api = get_kpis(world).json()
    assert by_dim["total"] == {"": {f: api["totals"][f] for f in fields}}
    assert by_dim["emergencies"] == {"": {f: api["emergencies"][f] for f in fields}}
    for by in ("category", "community", "team", "grid"):
        groups = get_kpis(world, group_by=by).json()["groups"]
        assert by_dim[by] == {(g["key"] or ""): {f: g[f] for f in fields} for g in groups}, by
    for dim, key in (("rule", "by_rule"), ("device", "by_device")):
        want = {fa["key"]: fa for fa in api["false_alarms"][key]}
        assert set(by_dim[dim]) == set(want)
        for k, got in by_dim[dim].items():
            assert {f: got[f] for f in ("alert_cases", "false_alarms", "false_alarm_rate")} == {
                f: want[k][f] for f in ("alert_cases", "false_alarms", "false_alarm_rate")
            }
            assert all(v is None for f, v in got.items() if f not in want[k])
    # the month is the hub's: Oct 1 01:00 in Shanghai (case I) is in, Nov 1 00:30 (case J) is out
    assert by_dim["total"][""]["opened"] == 9


def test_the_printable_page_has_charts_and_obeys_the_csp(world: World) -> None:
    r = get_report(world, "html")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == "default-src 'self'; img-src 'self' data:"
    page = r.text.lower()
    assert page.count("<svg") == 12 and "<rect" in page  # three charts per category, community, team, grid
    for label in ("extension rate", "response rate", "on-time closure rate", "due but suspended at the end"):
        assert label in page, label
    for forbidden in (
        "<script",
        "<style",
        "style=",
        "<link",
        "<img",
        "http:",
        "https:",
        "javascript:",
        "@import",
    ):
        assert forbidden not in page, forbidden
    assert world.community in r.text and "fire-safety" in r.text and "50.0 %" in r.text
    assert SECRET not in r.text


def test_the_printable_page_in_chinese_names_communities_teams_grids_and_categories(
    world: World, conn: psycopg.Connection[Any]
) -> None:
    """Team contractor-x and grid g2 get records here, the seeded community a Chinese name; teams and
    grids without a record (fire-safety, g1) keep their ids."""
    conn.execute(
        "INSERT INTO teams (id, name_en, name_zh) VALUES ('contractor-x', 'Kerb contractor', '路缘承包商')"
    )
    conn.execute(
        "INSERT INTO grids (community_id, id, name_en, name_zh) VALUES (%s, 'g2', 'East lanes', '东片网格')",
        (world.community,),
    )
    conn.execute("UPDATE communities SET name_zh = '测试社区' WHERE id = %s", (world.community,))
    try:

        def page(headers: dict[str, str] | None = None, **params: str) -> Any:
            query = {"month": MONTH, "community": world.community, **params}
            return world.client.get(
                f"{API}/kpis/report.html", params=query, headers=world.tokens["admin"] | (headers or {})
            )

        zh = page(lang="zh")
        assert zh.status_code == 200, zh.text
        assert '<html lang="zh-CN">' in zh.text and f"<h1>工单绩效指标 – 测试社区 – {MONTH}</h1>" in zh.text
        for text in ("结案率", "按班组", "路缘承包商", "东片网格", "火警", "设施损坏", " 分钟<"):
            assert text in zh.text, text
        assert "<td>fire-safety</td>" in zh.text and "<td>g1</td>" in zh.text
        for leak in ("Closure rate", "By team", "contractor-x", ">g2<", "<td>fire</td>", "(none)"):
            assert leak not in zh.text, leak
        assert re.search(r"\d (s|min|h|d)<", zh.text) is None
        assert '<html lang="zh-CN">' in page({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text

        en = page({"Accept-Language": "zh-CN"}, lang="en")
        assert '<html lang="en">' in en.text and f"<h1>Case KPIs – Community {world.community} – " in en.text
        assert "Kerb contractor" in en.text and "East lanes" in en.text and "<td>Fire</td>" in en.text
        assert "路缘承包商" not in en.text and "结案率" not in en.text
        assert '<html lang="en">' in page({"Accept-Language": "en-GB,zh;q=0.5"}).text

        bad = page(lang="fr")
        assert bad.status_code == 422
        assert bad.json()["error"]["message"].startswith("invalid request: query.lang:"), bad.text
    finally:
        conn.execute("DELETE FROM teams WHERE id = 'contractor-x'")
        conn.execute("DELETE FROM grids WHERE community_id = %s AND id = 'g2'", (world.community,))
        conn.execute("UPDATE communities SET name_zh = NULL WHERE id = %s", (world.community,))


# -- the public summary -----------------------------------------------------------------------------------


def public_specs(today: datetime) -> list[Spec]:
    """Seven cases within the last 30 days (Shanghai) and one after the current hour."""
    day = today - 3 * D
    out = []
    for i in range(5):  # lighting: acknowledged after 10..50 min, resolved after 1..5 h, three closed
        events = opened((10 * (i + 1) * M, "acknowledged", "acknowledged", None),
                        (11 * (i + 1) * M, "started", "in_progress", None),
                        ((i + 1) * H, "resolved", "resolved", "ok"))  # fmt: skip
        if i < 3:
            events.append(((i + 1) * H + M, "closed", "closed", None))
        out.append(Spec(f"P{i}", "lighting", "lighting", "g1", "minor", "resident", day + i * H, 4 * H, events,
                        "closed" if i < 3 else "resolved", stars=[(D, 5)] if i < 2 else []))  # fmt: skip
    out.append(Spec("P5", "fire", "fire-safety", "g1", "critical", "alert", day, H, opened(), "dispatched",
                    alerts=[("smoke-alarm", "sd1")]))  # fmt: skip
    out.append(Spec("P6", "gas", "gas", "g1", "critical", "resident", day, H,
                    opened((M, "cancelled", "cancelled", "false alarm")), "cancelled"))  # fmt: skip
    out.append(  # an hour from now: after the period, which ends now
        Spec(
            "P7",
            "flood",
            "drainage",
            "g1",
            "major",
            "resident",
            datetime.now(UTC) + H,
            H,
            opened(),
            "dispatched",
        )
    )
    return out


def walk_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in walk_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in walk_keys(v)}
    return set()


def test_the_public_summary_needs_no_token_and_hides_small_counts(
    world: World, setup_conn: psycopg.Connection[Any]
) -> None:
    community = new_community(setup_conn)
    today = datetime.combine(datetime.now(SHANGHAI).date(), time(0), tzinfo=SHANGHAI).astimezone(UTC)
    cases = public_specs(today)
    seed(setup_conn, community, cases)
    r = world.client.get(f"{API}/public/communities/{community}/summary")  # no Authorization header
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["community"] == community and body["days"] == 30
    assert abs(datetime.fromisoformat(body["to"]) - datetime.now(UTC)) < timedelta(seconds=30), "today so far"
    assert datetime.fromisoformat(body["from"]) == today - 29 * D, "30 calendar days, today the last"
    assert body["time_zone"] == "Asia/Shanghai"
    assert body["cases"] == 7, "P7 opens after the period"
    assert body["by_category"] == {"lighting": 5, "other": "<3"}, "fire 1 + gas 1 pooled and hidden"
    assert body["by_status"] == {"closed": 3, "other": 4}, "resolved 2 + dispatched 1 + cancelled 1"
    assert body["median_minutes_to_acknowledge"] == 30.0  # 10, 20, 30, 40, 50
    assert body["median_minutes_to_resolve"] == 180.0  # 1..5 h
    # due: P0-P4 (deadline 4 h, in the period) and P5 (1 h); P6 was cancelled; closed 3 of 6
    assert body["closure_rate"] == 0.5
    assert body["on_time_rate"] == 0.8  # P4 resolved after 5 h, its deadline was 4 h
    assert (body["ratings"], body["average_rating"]) == ("<3", None), (
        "two ratings: neither shown nor averaged"
    )
    text = r.text
    for leak in (
        SECRET,
        "sd1",
        "reporter",
        "description",
        "device",
        "smoke-alarm",
        "team",
        "kx-resident",
        "title",
    ):
        assert leak not in text, leak
    assert walk_keys(body) <= {
        "community", "name", "days", "from", "to", "time_zone", "cases", "by_category", "by_status", "lighting", "other",
        "closed", "median_minutes_to_acknowledge", "median_minutes_to_resolve", "closure_rate", "on_time_rate",
        "ratings", "average_rating", "by_organisation",
    }  # fmt: skip
    assert r.headers["cache-control"] == "public, max-age=300"


def test_the_public_summary_of_a_tiny_or_unknown_community(
    world: World, setup_conn: psycopg.Connection[Any]
) -> None:
    community = new_community(setup_conn)
    today = datetime.combine(datetime.now(SHANGHAI).date(), time(0), tzinfo=SHANGHAI).astimezone(UTC)
    one = Spec("T", "noise", "patrol", "g1", "minor", "resident", today - 2 * D, H,
               opened((5 * M, "acknowledged", "acknowledged", None)), "acknowledged", stars=[])  # fmt: skip
    seed(setup_conn, community, [one])
    body = world.client.get(f"{API}/public/communities/{community}/summary", params={"days": 7}).json()
    assert (body["cases"], body["by_category"], body["by_status"]) == ("<3", {"other": "<3"}, {"other": "<3"})
    assert body["median_minutes_to_acknowledge"] is None and body["closure_rate"] is None
    assert "noise" not in json.dumps(body) and "acknowledged" not in json.dumps(body)
    empty = world.client.get(f"{API}/public/communities/{new_community(setup_conn)}/summary").json()
    assert (empty["cases"], empty["by_category"], empty["ratings"]) == (0, {}, 0)
    missing = world.client.get(f"{API}/public/communities/kx-no-such-place/summary")
    assert (
        missing.status_code == 404 and missing.json()["error"]["message"] == "no community kx-no-such-place"
    )
    assert (
        world.client.get(f"{API}/public/communities/{community}/summary", params={"days": 3}).status_code
        == 422
    )
    assert (
        world.client.get(f"{API}/public/communities/{community}/summary", params={"days": 366}).status_code
        == 422
    )


def test_nearest_rank_helper_of_this_test() -> None:
    assert nearest_rank_p90([1.0]) == 1.0
    assert nearest_rank_p90([float(v) for v in range(1, 11)]) == 9.0
    assert (
        nearest_rank_p90([float(v) for v in range(1, 12)]) == 10.0 == sorted(range(1, 12))[math.ceil(9.9) - 1]
    )


def test_csv_cells_never_start_a_spreadsheet_formula(
    world: World, setup_conn: psycopg.Connection[Any]
) -> None:
    community = new_community(setup_conn)
    seed(setup_conn, community, [Spec("X", "lighting", "lighting", "=HYPERLINK(1)", "minor", "operator",
                                      utc("2026-10-15T00:00"), H, opened(), "dispatched")])  # fmt: skip
    r = get_report(world, "csv", community=community)
    grids = [row["key"] for row in csv.DictReader(io.StringIO(r.text)) if row["dimension"] == "grid"]
    assert grids == ["'=HYPERLINK(1)"]
