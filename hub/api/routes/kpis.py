"""Case KPIs: the live view (`/kpis`), the monthly report as CSV and as a printable page, and the public,
anonymous summary of a community. The formulas are in `hub.cases.kpis`, the queries in `hub.store.kpis`.

Who reads: admins, operators and integrations every community; managers their own communities (another
community answers 404, as if it did not exist); residents get 403 and read the public summary instead.
"""

import csv
import html
import io
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import AppSettings, Conn, require
from hub.cases import config
from hub.cases import kpis as formulas
from hub.cases.kpis import GROUP_BY, KPI_FIELDS, GroupBy, Kpis
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import kpis as kpi_store

router = APIRouter(tags=["kpis"])

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=400)
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Reader = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.MANAGER, Role.INTEGRATION))]
CommunityParam = Query(
    default=None,
    min_length=1,
    max_length=100,
    description="one community; omitted: every community in the caller's scope",
)


class KpiBlock(BaseModel):
    """Every rate is null when its denominator is 0; times are seconds from the case's creation."""

    model_config = ConfigDict(extra="forbid")

    opened: int = Field(description="cases created in the period")
    emergencies: int = Field(description="of them with severity critical")
    cancelled: int = Field(description="cancelled by the end of the period (merged ones included)")
    closed: int = Field(description="closed (verified) by the end of the period")
    due: int = Field(description="not cancelled, and resolve deadline in the period or closed")
    suspended: int = Field(description="of the due cases, not closed and suspended at the end of the period")
    closure_rate: float | None = Field(description="closed / (due - suspended)")
    closed_on_time: int = Field(description="closed at or before the resolve deadline")
    on_time_closure_rate: float | None = Field(description="closed_on_time / (due - suspended)")
    extended: int = Field(description="of the due cases, those whose resolve deadline was extended")
    extension_rate: float | None = Field(description="extended / due")
    resolved: int = Field(description="resolution standing at the end of the period (resolved or closed)")
    resolved_with_deadline: int = Field(description="of them with a resolve deadline")
    resolved_on_time: int = Field(description="of them resolved at or before the deadline")
    on_time_rate: float | None = Field(description="resolved_on_time / resolved_with_deadline")
    acknowledged: int = Field(description="cases acknowledged (or claimed) by the end of the period")
    ack_due: int = Field(
        description="due to be acknowledged: not cancelled, with an acknowledgement deadline, and "
        "acknowledged or that deadline in the period (and not suspended at its end)"
    )
    acknowledged_in_time: int = Field(description="of them acknowledged at or before the deadline")
    response_rate: float | None = Field(description="acknowledged_in_time / ack_due")
    ack_seconds_mean: float | None
    ack_seconds_p90: float | None = Field(description="nearest rank")
    resolve_seconds_mean: float | None = Field(description="to the standing (last) resolution")
    resolve_seconds_p90: float | None = Field(description="nearest rank")
    ever_resolved: int = Field(description="cases resolved at least once")
    reworked: int = Field(description="of them reopened at least once")
    rework_rate: float | None = Field(description="reworked / ever_resolved")
    ratings: int = Field(description="residents' ratings of the cases")
    rating_avg: float | None = Field(description="mean stars")
    satisfied: int = Field(description="ratings with 4 or 5 stars")
    satisfaction_rate: float | None = Field(description="satisfied / ratings")
    alert_cases: int = Field(description="cases raised by alerts")
    false_alarms: int = Field(description="of them cancelled as a false alarm")
    false_alarm_rate: float | None = Field(description="false_alarms / alert_cases")


class _Keyed(BaseModel):
    key: str | None = Field(
        description="the category, community, team or grid; null for cases without team or grid"
    )


class KpiGroup(KpiBlock, _Keyed):
    """The key first, then the KPI block."""


class FalseAlarmRow(BaseModel):
    key: str = Field(description="rule id or device id")
    alert_cases: int
    false_alarms: int
    false_alarm_rate: float | None


class FalseAlarmsOut(BaseModel):
    by_rule: list[FalseAlarmRow]
    by_device: list[FalseAlarmRow]


class KpisOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    community: str | None = Field(description="null: every community in the caller's scope")
    from_: datetime = Field(alias="from", description="cases created from here (inclusive)")
    to: datetime = Field(description="… to here (exclusive)")
    as_of: datetime = Field(description="events and ratings before this time count: min(to, now)")
    group_by: GroupBy
    totals: KpiBlock
    emergencies: KpiBlock = Field(description="the same KPIs over the critical cases only")
    groups: list[KpiGroup] = Field(description="by `group_by`, most cases first")
    false_alarms: FalseAlarmsOut


Count = int | Literal["<3"]


class PublicSummaryOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    community: str
    name: str
    days: int
    from_: datetime = Field(
        alias="from", description="start of the period (a midnight in the hub's time zone)"
    )
    to: datetime = Field(description="end of the period: today's midnight, so the figures change once a day")
    cases: Count = Field(description='cases created in the period; 1 or 2 is shown as "<3"')
    by_category: dict[str, Count] = Field(
        description='categories with fewer than 3 cases are pooled as "other"'
    )
    by_status: dict[str, Count] = Field(description='statuses with fewer than 3 cases are pooled as "other"')
    median_minutes_to_acknowledge: float | None = Field(description="null with fewer than 3 values")
    median_minutes_to_resolve: float | None = Field(description="null with fewer than 3 values")
    closure_rate: float | None = Field(
        description="closed / (due - suspended); null when fewer than 3 cases count"
    )
    on_time_rate: float | None = Field(description="null with fewer than 3 resolved cases with a deadline")
    ratings: Count
    average_rating: float | None = Field(description="null with fewer than 3 ratings")


@router.get("/kpis", response_model=KpisOut)
def get_kpis(
    conn: Conn,
    user: Reader,
    community: str | None = CommunityParam,
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601, without an offset UTC; default `to` − 30 days"
    ),
    to: datetime | None = Query(default=None, description="ISO 8601, without an offset UTC; default now"),
    group_by: GroupBy = Query(default="category"),
) -> KpisOut:
    """KPIs of the cases created in `[from, to)` (at most 400 days), in total, for the emergencies
    (severity critical) apart, and per category, community, team or grid; false alarms per rule and
    device."""
    start, end = _period(from_, to)
    communities = _scope(conn, user, community)
    report = _report(conn, communities, start, end)
    return KpisOut.model_validate(
        {
            "community": community,
            "from": start,
            "to": end,
            "as_of": report.as_of,
            "group_by": group_by,
            "totals": asdict(report.totals),
            "emergencies": asdict(report.emergencies),
            "groups": [{"key": key, **asdict(k)} for key, k in report.groups[group_by]],
            "false_alarms": {
                "by_rule": [asdict(r) for r in report.by_rule],
                "by_device": [asdict(r) for r in report.by_device],
            },
        }
    )


MonthParam = Query(
    pattern=MONTH_PATTERN, description="YYYY-MM, a month in the hub's time zone", examples=["2026-11"]
)


@router.get(
    "/kpis/report.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "one row per total, category, community, team, grid, rule and device",
        }
    },
)
def get_report_csv(
    conn: Conn,
    user: Reader,
    settings: AppSettings,
    month: str = MonthParam,
    community: str | None = CommunityParam,
) -> Response:
    """The monthly report: columns month, community, dimension (total, emergencies, category, community,
    team, grid, rule, device), key, then the KPIs of `/kpis`; rule and device rows fill only the
    false-alarm columns."""
    zone = config.current(settings.routing_file).calendar.zone
    start, end = _month(month, zone)
    report = _report(conn, _scope(conn, user, community), start, end)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["month", "community", "dimension", "key", *KPI_FIELDS])
    where = community or "all"
    for dimension, key, values in _report_rows(report):
        writer.writerow(
            [
                month,
                _cell(where),
                dimension,
                _cell(key or ""),
                *(_csv_value(values.get(f)) for f in KPI_FIELDS),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="kpis-{_file_part(where)}-{month}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/kpis/report.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "a printable page with SVG bar charts"}},
)
def get_report_html(
    conn: Conn,
    user: Reader,
    settings: AppSettings,
    month: str = MonthParam,
    community: str | None = CommunityParam,
) -> Response:
    """The monthly report as one printable HTML page: plain HTML tables and inline SVG bar charts, no
    script, no style sheet and no external assets (the page obeys the API's content security policy)."""
    zone = config.current(settings.routing_file).calendar.zone
    start, end = _month(month, zone)
    report = _report(conn, _scope(conn, user, community), start, end)
    page = _html(report, community or "all communities in your scope", month, zone)
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/public/communities/{community}/summary", response_model=PublicSummaryOut, tags=["public"])
def get_public_summary(
    conn: Conn,
    settings: AppSettings,
    response: Response,
    community: Annotated[str, Path(min_length=1, max_length=100)],
    days: int = Query(default=30, ge=7, le=365, description="whole days before today"),
) -> PublicSummaryOut:
    """No log-in: a community's case figures for everyone. Counts only, no ids, no descriptions, no
    people: counts of 1 or 2 are "<3", rare categories and statuses are pooled as "other", and medians,
    rates and the average rating need at least 3 cases or ratings. 404 for an unknown community."""
    name = kpi_store.community_name(conn, community)
    if name is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no community {community}")
    zone = config.current(settings.routing_file).calendar.zone
    today = datetime.now(zone).date()
    end = _midnight(today, zone)
    start = _midnight(today - timedelta(days=days), zone)
    cohort = kpi_store.cohort(conn, communities=[community], start=start, end=end, as_of=end)
    summary = formulas.public_summary(formulas.outcomes(cohort, end), start, end)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return PublicSummaryOut.model_validate(
        {"community": community, "name": name, "days": days, "from": start, "to": end, **asdict(summary)}
    )


# -- the report ---------------------------------------------------------------------------------------------


class _Report:
    def __init__(
        self, outcomes: list[formulas.Outcome], start: datetime, end: datetime, as_of: datetime
    ) -> None:
        self.start, self.end, self.as_of = start, end, as_of
        self.totals = formulas.kpis(outcomes, start, as_of)
        self.emergencies = formulas.kpis([o for o in outcomes if o.emergency], start, as_of)
        self.groups: dict[GroupBy, list[tuple[str | None, Kpis]]] = {
            by: formulas.breakdown(outcomes, by, start, as_of) for by in GROUP_BY
        }
        self.by_rule = formulas.false_alarms_by(outcomes, "rule")
        self.by_device = formulas.false_alarms_by(outcomes, "device")


def _report(conn: Conn, communities: list[str] | None, start: datetime, end: datetime) -> _Report:
    as_of = min(end, datetime.now(UTC))
    cohort = kpi_store.cohort(conn, communities=communities, start=start, end=end, as_of=as_of)
    return _Report(formulas.outcomes(cohort, as_of), start, end, as_of)


def _report_rows(report: _Report) -> list[tuple[str, str | None, dict[str, Any]]]:
    rows: list[tuple[str, str | None, dict[str, Any]]] = [
        ("total", None, asdict(report.totals)),
        ("emergencies", None, asdict(report.emergencies)),
    ]
    for by in GROUP_BY:
        rows += [(by, key, asdict(k)) for key, k in report.groups[by]]
    for dimension, items in (("rule", report.by_rule), ("device", report.by_device)):
        rows += [(dimension, r.key, asdict(r)) for r in items]
    return rows


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _cell(text: str) -> str:
    """Text that a spreadsheet would run as a formula (a grid named "=HYPERLINK(…)") gets a leading quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _file_part(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:100]


# -- scope and periods --------------------------------------------------------------------------------------


def _scope(conn: Conn, user: User, community: str | None) -> list[str] | None:
    """The communities to count: the one asked for if the caller may see it (else 404, whether it exists
    or not), otherwise the caller's scope (None: every community)."""
    allowed = user.community_scope()
    if community is None:
        return allowed
    if (allowed is not None and community not in allowed) or kpi_store.community_name(
        conn, community
    ) is None:
        where = "" if allowed is None else " in your communities"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no community {community}{where}")
    return [community]


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _period(from_: datetime | None, to: datetime | None) -> tuple[datetime, datetime]:
    try:
        end = _utc(to) if to is not None else datetime.now(UTC)
        start = _utc(from_) if from_ is not None else end - DEFAULT_RANGE
    except OverflowError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "`from` and `to` must lie between the years 1 and 9999 in UTC",
        ) from None
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`to` must be later than `from`")
    if end - start > MAX_RANGE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"the period is longer than {MAX_RANGE.days} days"
        )
    return start, end


def _month(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    year, number = int(month[:4]), int(month[5:7])
    if not 1970 <= year <= 9000:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`month` must lie between 1970 and 9000")
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return _midnight(first, zone), _midnight(following, zone)


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=zone)


# -- the printable page: plain HTML and SVG presentation attributes (the CSP allows no inline style) ---------

_LABELS: dict[str, str] = {
    "opened": "Cases opened",
    "emergencies": "Emergencies (critical)",
    "cancelled": "Cancelled",
    "closed": "Closed",
    "due": "Due",
    "suspended": "Due but suspended at the end",
    "closure_rate": "Closure rate",
    "closed_on_time": "Closed on time",
    "on_time_closure_rate": "On-time closure rate",
    "extended": "Deadline extended",
    "extension_rate": "Extension rate",
    "resolved": "Resolved",
    "resolved_with_deadline": "Resolved with a deadline",
    "resolved_on_time": "Resolved on time",
    "on_time_rate": "On-time rate",
    "acknowledged": "Acknowledged",
    "ack_due": "Due to be acknowledged",
    "acknowledged_in_time": "Acknowledged in time",
    "response_rate": "Response rate",
    "ack_seconds_mean": "Time to acknowledge, mean",
    "ack_seconds_p90": "Time to acknowledge, p90",
    "resolve_seconds_mean": "Time to resolve, mean",
    "resolve_seconds_p90": "Time to resolve, p90",
    "ever_resolved": "Resolved at least once",
    "reworked": "Reopened (rework)",
    "rework_rate": "Rework rate",
    "ratings": "Ratings",
    "rating_avg": "Average rating",
    "satisfied": "Ratings of 4 or 5 stars",
    "satisfaction_rate": "Satisfaction rate",
    "alert_cases": "Alert cases",
    "false_alarms": "False alarms",
    "false_alarm_rate": "False-alarm rate",
}
_TABLE_FIELDS = (
    "opened",
    "emergencies",
    "closed",
    "due",
    "suspended",
    "closure_rate",
    "on_time_closure_rate",
    "extension_rate",
    "response_rate",
    "on_time_rate",
    "ack_seconds_mean",
    "ack_seconds_p90",
    "resolve_seconds_mean",
    "resolve_seconds_p90",
    "rework_rate",
    "rating_avg",
    "satisfaction_rate",
    "false_alarm_rate",
)
_BAR = "#3b6ea5"
_TEXT = "#222222"


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "–"
    if name.endswith("_rate"):
        return f"{value * 100:.1f} %"
    if "_seconds_" in name:
        return _duration(float(value))
    if name == "rating_avg":
        return f"{value:.2f}"
    return str(value)


def _duration(seconds: float) -> str:
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _bar_chart(title: str, bars: list[tuple[str, float | None]], maximum: float, shown: list[str]) -> str:
    """Horizontal bars with their labels and values, sized by SVG attributes only."""
    e = html.escape
    label_w, bar_w, row_h, top = 180, 360, 22, 28
    height = top + row_h * max(len(bars), 1) + 8
    parts = [
        f'<svg width="{label_w + bar_w + 90}" height="{height}" role="img" aria-label="{e(title)}">',
        f'<text x="0" y="16" font-family="sans-serif" font-size="14" font-weight="bold" fill="{_TEXT}">'
        f"{e(title)}</text>",
    ]
    for i, ((label, value), text) in enumerate(zip(bars, shown, strict=True)):
        y = top + i * row_h
        width = 0.0 if value is None or maximum <= 0 else max(0.0, min(1.0, value / maximum)) * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-family="sans-serif" font-size="12" '
            f'fill="{_TEXT}">{e(label[:28])}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" fill="{_BAR}"/>'
        )
        parts.append(
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}" font-family="sans-serif" font-size="12" '
            f'fill="{_TEXT}">{e(text)}</text>'
        )
    if not bars:
        parts.append(
            f'<text x="0" y="{top + 15}" font-family="sans-serif" font-size="12" fill="{_TEXT}">no cases</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _html(report: _Report, where: str, month: str, zone: ZoneInfo) -> str:
    e = html.escape
    local = f"{report.start.astimezone(zone):%Y-%m-%d %H:%M} to {report.end.astimezone(zone):%Y-%m-%d %H:%M}"
    totals, emergencies = asdict(report.totals), asdict(report.emergencies)
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Case KPIs {e(month)} – {e(where)}</title></head><body>",
        f"<h1>Case KPIs – {e(where)} – {e(month)}</h1>",
        f"<p>Cases created from {e(local)} ({e(str(zone))}); events and ratings up to "
        f"{e(f'{report.as_of.astimezone(zone):%Y-%m-%d %H:%M}')}. Rates are null (–) when nothing is counted.</p>",
        "<h2>Totals</h2>",
        '<table border="1" cellpadding="4" cellspacing="0"><thead><tr><th>KPI</th><th>all cases</th>'
        "<th>emergencies</th></tr></thead><tbody>",
    ]
    for name in KPI_FIELDS:
        out.append(
            f"<tr><td>{e(_LABELS[name])}</td><td>{e(_shown(name, totals[name]))}</td>"
            f"<td>{e(_shown(name, emergencies[name]))}</td></tr>"
        )
    out.append("</tbody></table>")
    for by in GROUP_BY:
        groups = report.groups[by]
        labels = [key if key is not None else "(none)" for key, _ in groups]
        out.append(f"<h2>By {e(by)}</h2>")
        opened: list[float | None] = [float(k.opened) for _, k in groups]
        closure: list[float | None] = [k.closure_rate for _, k in groups]
        on_time: list[float | None] = [k.on_time_rate for _, k in groups]
        charts = (
            (
                f"Cases opened by {by}",
                opened,
                max((float(k.opened) for _, k in groups), default=0.0),
                [str(k.opened) for _, k in groups],
            ),
            (f"Closure rate by {by}", closure, 1.0, [_shown("closure_rate", v) for v in closure]),
            (f"On-time rate by {by}", on_time, 1.0, [_shown("on_time_rate", v) for v in on_time]),
        )
        for title, bars, top, shown in charts:
            out.append("<p>" + _bar_chart(title, list(zip(labels, bars, strict=True)), top, shown) + "</p>")
        out.append('<table border="1" cellpadding="4" cellspacing="0"><thead><tr>')
        out.append(f"<th>{e(by)}</th>" + "".join(f"<th>{e(_LABELS[f])}</th>" for f in _TABLE_FIELDS))
        out.append("</tr></thead><tbody>")
        for label, (_, k) in zip(labels, groups, strict=True):
            values = asdict(k)
            out.append(
                f"<tr><td>{e(label)}</td>"
                + "".join(f"<td>{e(_shown(f, values[f]))}</td>" for f in _TABLE_FIELDS)
                + "</tr>"
            )
        out.append("</tbody></table>")
    for title, items in (
        ("False alarms by rule", report.by_rule),
        ("False alarms by device", report.by_device),
    ):
        out.append(f"<h2>{e(title)}</h2>")
        if not items:
            out.append("<p>No alert-raised cases.</p>")
            continue
        out.append(
            '<table border="1" cellpadding="4" cellspacing="0"><thead><tr><th>key</th><th>alert cases</th>'
            "<th>false alarms</th><th>false-alarm rate</th></tr></thead><tbody>"
        )
        for r in items:
            out.append(
                f"<tr><td>{e(r.key)}</td><td>{r.alert_cases}</td><td>{r.false_alarms}</td>"
                f"<td>{e(_shown('false_alarm_rate', r.false_alarm_rate))}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out)
