"""The monthly report without the API or a database: the month in the working calendar's time zone, the
CSV rows, and the printable page rendered from its templates."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.cases import kpi_periods, kpi_report
from hub.cases.kpis import KPI_FIELDS, outcomes
from hub.domain.errors import Invalid
from hub.domain.kpis import AlertLink, CaseRow, Cohort, EventRow
from hub.domain.language import CATEGORY_NAMES, preferred
from hub.services import kpi_page

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 30, 16, tzinfo=UTC)
END = datetime(2026, 10, 31, 16, tzinfo=UTC)
M = timedelta(minutes=1)


def case(n: int, category: str, grid: str | None, *, source: str = "operator") -> CaseRow:
    created = START + n * 60 * M
    return CaseRow(
        n, "c1", category, "team", grid, "minor", source, "dispatched", created, created + 60 * M, None
    )


def report() -> kpi_report.Report:
    cases = [case(1, "fire", "g1", source="alert"), case(2, "fire", "=SUM(A1)"), case(3, "<b>lamp</b>", None)]
    events = [
        EventRow(1, 1, cases[0].created_at + 10 * M, "resolved", "ok"),
        EventRow(1, 2, cases[0].created_at + 20 * M, "closed", None),
        EventRow(2, 3, cases[1].created_at + 5 * M, "cancelled", "false alarm"),
    ]
    cohort = Cohort(cases, events, alerts=[AlertLink(1, "smoke", "sd-1")])  # closed 1 of due 1 and 3
    return kpi_report.report(outcomes(cohort, END), START, END, END)


def test_a_month_is_cut_at_midnights_of_the_working_time_zone() -> None:
    assert kpi_periods.month("2026-10", SHANGHAI) == (START, END)
    start, end = kpi_periods.month("2026-12", SHANGHAI)
    assert (start.date(), end.date()) == (date(2026, 12, 1), date(2027, 1, 1))
    with pytest.raises(Invalid, match="between 1970 and 9000"):
        kpi_periods.month("1969-12", SHANGHAI)


def test_the_public_days_include_today_so_far() -> None:
    """END is 1 November 00:00 in Shanghai; at 09:47 there the last 7 days are 26 October to now."""
    now = END + timedelta(hours=9, minutes=47, seconds=12)
    start, end = kpi_periods.days_until(now, 7, SHANGHAI)
    assert (start, end) == (END - timedelta(days=6), now)
    assert start.astimezone(SHANGHAI).date() == date(2026, 10, 26)


def test_kpi_trends_cut_weeks_at_mondays_and_months_at_firsts_and_end_with_the_running_one() -> None:
    today = date(2026, 11, 4)  # a Wednesday
    weeks = kpi_periods.recent(today, "week", 3, SHANGHAI)
    assert [(a.astimezone(SHANGHAI).date(), b.astimezone(SHANGHAI).date()) for a, b in weeks] == [
        (date(2026, 10, 19), date(2026, 10, 26)),
        (date(2026, 10, 26), date(2026, 11, 2)),
        (date(2026, 11, 2), date(2026, 11, 9)),
    ]
    months = kpi_periods.recent(date(2026, 1, 31), "month", 3, SHANGHAI)
    assert [a.astimezone(SHANGHAI).date() for a, _ in months] == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
    ]
    assert months[-1][1] == datetime(2026, 2, 1, tzinfo=SHANGHAI)


def test_a_free_range_is_at_most_400_days() -> None:
    kpi_periods.bounded(START, START + timedelta(days=400))
    with pytest.raises(Invalid, match="longer than 400 days"):
        kpi_periods.bounded(START, START + timedelta(days=400, seconds=1))


def test_the_csv_has_one_row_per_dimension_and_key_and_no_formula_cells() -> None:
    text = kpi_report.csv_text(report(), "2026-10", "-all")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["month", "community", "dimension", "key", *KPI_FIELDS, "name"]
    assert [(r["dimension"], r["key"]) for r in rows if r["dimension"] in ("total", "grid", "rule")] == [
        ("total", ""),
        ("grid", "'=SUM(A1)"),
        ("grid", "g1"),
        ("grid", ""),
        ("rule", "smoke"),
    ]
    assert {r["community"] for r in rows} == {"'-all"}
    rule = next(r for r in rows if r["dimension"] == "rule")
    assert (rule["alert_cases"], rule["false_alarms"], rule["opened"]) == ("1", "0", "")
    assert kpi_report.csv_name("a b/../c", "2026-10") == "kpis-a_b_.._c-2026-10.csv"


def test_the_page_escapes_names_and_draws_three_charts_per_grouping() -> None:
    page = kpi_page.render(report(), "<i>all</i>", "2026-10", SHANGHAI)
    assert page.count("<svg") == 12 and "<b>" not in page and "<i>" not in page
    assert "&lt;b&gt;lamp&lt;/b&gt;" in page and "&lt;i&gt;all&lt;/i&gt;" in page
    assert "2026-10-01 00:00 to 2026-11-01 00:00 (Asia/Shanghai)" in page
    assert re.search(r"<td>Closure rate</td><td>50\.0 %</td><td>–</td>", page)
    assert "style" not in page and "<script" not in page


def test_a_grouping_without_cases_says_so_in_each_chart() -> None:
    empty = kpi_report.report([], START, END, END)
    page = kpi_page.render(empty, "c1", "2026-10", SHANGHAI)
    assert page.count(">no cases</text>") == 12 and page.count("No alert-raised cases.") == 2


def test_the_chinese_page_has_chinese_words_units_and_names_and_no_english_label() -> None:
    page = kpi_page.render(report(), "测试社区", "2026-10", SHANGHAI, "zh", {"team": {"team": "维修班"}})
    assert page.count("<svg") == 12 and '<html lang="zh-CN">' in page
    assert "<h1>工单绩效指标 – 测试社区 – 2026-10</h1>" in page
    assert "统计 2026-10-01 00:00 至 2026-11-01 00:00（Asia/Shanghai）创建的工单" in page
    assert re.search(r"<td>结案率</td><td>50\.0 %</td><td>–</td>", page)
    assert re.search(r"<td>解决用时（平均）</td><td>10\.0 分钟</td>", page)
    for text in (
        "<h2>合计</h2>",
        "<h2>按类别</h2>",
        "按网格：按时率",
        "<td>火警</td>",
        "<td>维修班</td>",
        "（无）",
    ):
        assert text in page, text
    assert "&lt;b&gt;lamp&lt;/b&gt;" in page, "a category the hub does not know keeps its code"
    for english in [
        *kpi_page.LABELS["en"].values(),
        "Totals",
        "By category",
        "(none)",
        "alert cases",
        "No alert",
    ]:
        assert english not in page, english
    assert re.search(r"\d (s|min|h|d)<", page) is None and "<td>team</td>" not in page


def test_the_english_page_names_categories_and_says_all_communities() -> None:
    page = kpi_page.render(report(), None, "2026-10", SHANGHAI, "en", {"grid": {"g1": "North lanes"}})
    assert (
        '<html lang="en">' in page and "<h1>Case KPIs – all communities in your scope – 2026-10</h1>" in page
    )
    assert "<h2>By category</h2>" in page and "Cases opened by grid" in page and "<td>(none)</td>" in page
    assert "<td>Fire</td>" in page and "<td>North lanes</td>" in page and "<td>g1</td>" not in page
    assert re.search(r"<td>Time to resolve, mean</td><td>10\.0 min</td>", page)


def test_every_text_of_the_page_is_in_both_languages() -> None:
    for words in (kpi_page.LABELS, kpi_page.TEXT, CATEGORY_NAMES):
        assert words["zh"].keys() == words["en"].keys()
        assert all(words["zh"][k] != words["en"][k] for k in words["en"])
    assert kpi_page.LABELS["en"].keys() == set(KPI_FIELDS)


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9", "zh"),
        ("ZH-tw", "zh"),
        ("en-US,zh;q=0.8", "en"),
        ("fr", "en"),
    ],
)
def test_the_default_language_is_the_browsers_first(accept: str | None, lang: str) -> None:
    assert preferred(accept) == lang


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("closure_rate", 0.5, "50.0 %"),
        ("closure_rate", None, "–"),
        ("ack_seconds_mean", 90.0, "90 s"),
        ("ack_seconds_mean", 600.0, "10.0 min"),
        ("resolve_seconds_p90", 3 * 3600.0, "3.0 h"),
        ("resolve_seconds_p90", 3 * 86400.0, "3.0 d"),
        ("rating_avg", 3.6, "3.60"),
        ("opened", 7, "7"),
    ],
)
def test_figures_as_the_page_prints_them(name: str, value: float | None, text: str) -> None:
    assert kpi_page.shown(value, name) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(90.0, "90 秒"), (600.0, "10.0 分钟"), (3 * 3600.0, "3.0 小时"), (3 * 86400.0, "3.0 天")],
)
def test_durations_in_chinese(value: float, text: str) -> None:
    assert kpi_page.shown(value, "resolve_seconds_p90", "zh") == text


def test_a_bar_fills_its_share_of_the_scale() -> None:
    assert kpi_page.share(None, 1.0) == 0.0 and kpi_page.share(3, 0.0) == 0.0
    assert kpi_page.share(0.25, 1.0) == 0.25 and kpi_page.share(2.0, 1.0) == 1.0
