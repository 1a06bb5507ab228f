"""The responsible organisations' table of the KPI page, the monthly CSV and the printable report (in-process
app, real database): August 2026 of a water company's team (four cases), a lift contractor's team (two)
and a team no organisation owns (one), seeded straight into the tables with known times and ratings. The
figures are worked out by hand below from the seed; the lift contractor's two cases fall under the
small-count suppression of the public summary."""

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support import factories
from tests.support.api import API, app_client, login

START = datetime(2026, 7, 31, 16, tzinfo=UTC)  # August 2026 in Asia/Shanghai, the routing file's zone
END = datetime(2026, 8, 31, 16, tzinfo=UTC)
MONTH = "2026-08"
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
TAG = uuid.uuid4().hex[:6]
WATER, LIFT = f"kt-water-{TAG}", f"kt-lift-{TAG}"
W_TEAM, L_TEAM, X_TEAM = f"kt-w-{TAG}", f"kt-l-{TAG}", f"kt-x-{TAG}"
NAMES = {WATER: ("City Water", "城市水务"), LIFT: ("Lift Care", "电梯维保")}
ADMIN = f"kt-admin-{TAG}"

Event = tuple[timedelta, str, str]
CLOSED_IN_A_DAY: list[Event] = [(10 * M, "acknowledged", "acknowledged"), (20 * M, "started", "in_progress"),
                                (D, "resolved", "resolved"), (D + H, "closed", "closed")]  # fmt: skip
CASES: list[tuple[str, str, list[Event], str, list[int]]] = [
    # (team, created, events after open+dispatch, status now, stars); ack within 30 min, resolve within 2 days
    (W_TEAM, "2026-08-03T00:00", CLOSED_IN_A_DAY, "closed", [5]),
    (W_TEAM, "2026-08-05T00:00", [(40 * M, "acknowledged", "acknowledged"), (50 * M, "started", "in_progress"),
                                  (D, "resolved", "resolved"), (D + 2 * H, "reopened", "reopened"),
                                  (D + 3 * H, "started", "in_progress"), (3 * D, "resolved", "resolved"),
                                  (3 * D + H, "closed", "closed")], "closed", [2]),
    (W_TEAM, "2026-08-07T00:00", [(5 * M, "acknowledged", "acknowledged"), (6 * M, "started", "in_progress"),
                                  (20 * H, "resolved", "resolved"), (21 * H, "closed", "closed")], "closed", [4]),
    (W_TEAM, "2026-08-10T00:00", [(15 * M, "acknowledged", "acknowledged"), (16 * M, "started", "in_progress")],
     "in_progress", []),
    (L_TEAM, "2026-08-04T00:00", CLOSED_IN_A_DAY, "closed", [4]),
    (L_TEAM, "2026-08-06T00:00", CLOSED_IN_A_DAY, "closed", []),
    (X_TEAM, "2026-08-08T00:00", CLOSED_IN_A_DAY, "closed", []),
]  # fmt: skip

# Water: acknowledged in time 3 of 4 (the second at 40 min); closed 3 of the 4 due (the fourth is due on
# 12 August and still in progress); resolved on time 2 of 3 (the reworked one finally after 3 days);
# ratings 5, 2, 4: satisfied 2 of 3; reopened 1 of the 3 resolved.
WATER_ROW = {
    "organisation": WATER,
    "name_en": "City Water",
    "name_zh": "城市水务",
    "cases": 4,
    "response_rate": 3 / 4,
    "resolution_rate": 3 / 4,
    "on_time_rate": 2 / 3,
    "satisfaction_rate": 2 / 3,
    "rework_rate": 1 / 3,
}
# Lift: two cases, every figure over fewer than 3 cases or ratings: hidden.
LIFT_ROW = {
    "organisation": LIFT,
    "name_en": "Lift Care",
    "name_zh": "电梯维保",
    "cases": "<3",
    "response_rate": None,
    "resolution_rate": None,
    "on_time_rate": None,
    "satisfaction_rate": None,
    "rework_rate": None,
}


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url, users={ADMIN: ("admin", ())}) as c:
        yield c


@pytest.fixture(scope="module")
def where(setup_conn: psycopg.Connection[Any]) -> str:
    place = f"kt-{TAG}"
    setup_conn.execute("INSERT INTO communities (id, name) VALUES (%s, 'Org table')", (place,))
    for org, (en, zh) in NAMES.items():
        setup_conn.execute(
            "INSERT INTO organisations (id, kind, name_en, name_zh, communities) VALUES (%s, 'utility', %s, %s, %s)",
            (org, en, zh, [place]),
        )
    owners: list[tuple[str, str | None]] = [(W_TEAM, WATER), (L_TEAM, LIFT), (X_TEAM, None)]
    for team, owner in owners:
        setup_conn.execute(
            "INSERT INTO teams (id, name_en, name_zh, communities, organisation) VALUES (%s, %s, '班组', %s, %s)",
            (team, team, [place], owner),
        )
    rater = setup_conn.execute(
        "INSERT INTO users (username, password_hash, role, communities) VALUES (%s, 'x', 'resident', %s) "
        "RETURNING id",
        (f"kt-res-{TAG}", [place]),
    ).fetchone()
    assert rater is not None
    for team, created_text, events, status, stars in CASES:
        created = datetime.fromisoformat(created_text).replace(tzinfo=UTC)
        factories.seeded_case(
            setup_conn, place, team, created, status, events, [(rater[0], n) for n in stars]
        )
    return place


def test_the_kpis_carry_each_organisations_row_with_small_counts_hidden(
    client: TestClient, where: str
) -> None:
    query = {"community": where, "from": START.isoformat(), "to": END.isoformat(), "group_by": "organisation"}
    r = client.get(f"{API}/kpis", params=query, headers=login(client, ADMIN))
    assert r.status_code == 200, r.text
    assert r.json()["organisations"] == [WATER_ROW, LIFT_ROW], (
        "most cases first; no row for a team of nobody's"
    )
    lift = next(g for g in r.json()["groups"] if g["key"] == LIFT)
    assert (lift["opened"], lift["response_rate"], lift["closure_rate"]) == (2, 1.0, 1.0), (
        "the grouping itself is not suppressed: only the table is"
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_csv_has_a_row_per_organisation_named_in_the_readers_language(
    client: TestClient, where: str, lang: str
) -> None:
    query = {"month": MONTH, "community": where, "lang": lang}
    r = client.get(f"{API}/kpis/report.csv", params=query, headers=login(client, ADMIN))
    assert r.status_code == 200, r.text
    rows = {
        row["key"]: row for row in csv.DictReader(io.StringIO(r.text)) if row["dimension"] == "organisation"
    }
    assert list(rows) == [WATER, LIFT]
    name = 0 if lang == "en" else 1
    water, lift = rows[WATER], rows[LIFT]
    assert water["name"] == NAMES[WATER][name] and lift["name"] == NAMES[LIFT][name]
    filled = ("opened", "response_rate", "closure_rate", "on_time_rate", "satisfaction_rate", "rework_rate")
    assert [water[c] for c in filled] == ["4", "0.75", "0.75", repr(2 / 3), repr(2 / 3), repr(1 / 3)]
    assert [lift[c] for c in filled] == ["<3", "", "", "", "", ""]
    assert water["due"] == "" and water["ratings"] == "", "the table's figures only"


def test_the_printable_report_has_the_organisations_table_in_english_and_chinese(
    client: TestClient, where: str
) -> None:
    pages = {}
    for lang in ("en", "zh"):
        query = {"month": MONTH, "community": where, "lang": lang}
        r = client.get(f"{API}/kpis/report.html", params=query, headers=login(client, ADMIN))
        assert r.status_code == 200, r.text
        pages[lang] = r.text
    rows = re.findall(r'<tr data-organisation="([^"]+)">(.*?)</tr>', pages["en"])
    assert [org for org, _ in rows] == [WATER, LIFT]
    cells = [re.findall(r"<td>(.*?)</td>", body) for _, body in rows]
    assert cells == [
        ["City Water", "4", "75.0 %", "75.0 %", "66.7 %", "66.7 %", "33.3 %"],
        ["Lift Care", "&lt;3", "–", "–", "–", "–", "–"],
    ]
    assert "<h2>By responsible organisation</h2>" in pages["en"] and "<th>Resolution rate</th>" in pages["en"]
    zh = pages["zh"]
    assert "<h2>按责任部门或单位</h2>" in zh and "<th>解决率</th>" in zh and "<th>满意率</th>" in zh
    assert re.search(r'<tr data-organisation="[^"]+"><td>城市水务</td><td>4</td><td>75\.0 %</td>', zh)
    assert "City Water" not in zh and "Resolution rate" not in zh
