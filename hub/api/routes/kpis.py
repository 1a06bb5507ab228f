"""Case KPIs: the live view (`/kpis`), the monthly report as CSV and as a printable page, and the public,
anonymous summary of a community. Here the parameters, the role check and the shapes of the answers; the
work, community scope included, is in `hub.services.kpis`.

Who reads: admins, operators and integrations every community; managers their own communities (another
community answers 404, as if it did not exist); residents get 403 and read the public summary instead.
"""

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Conn, Dispatch, ReadConn, require
from hub.api.params import Language, time_range
from hub.cases.kpis import GroupBy
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import kpis as kpi_service

router = APIRouter(tags=["kpis"])

DEFAULT_RANGE = timedelta(days=30)
PUBLIC_MAX_AGE_S = 300
"""How long a cache may keep a public summary: today's reports show within minutes."""
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

    opened: int = Field(description="cases created in the period, duplicates left out: the problems")
    duplicates: int = Field(
        description="cases created in the period and merged or absorbed into another case by its end; "
        "left out of every other figure"
    )
    emergencies: int = Field(description="of them with severity critical")
    cancelled: int = Field(description="cancelled by the end of the period (duplicates not included)")
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


class OrganisationRow(BaseModel):
    """A rate over fewer than 3 cases (ratings for the satisfaction rate) is null, and 1 or 2 cases "<3",
    as in the public summary."""

    organisation: str
    name_en: str
    name_zh: str
    cases: int | Literal["<3"]
    response_rate: float | None = Field(description="acknowledged in time / due to be acknowledged")
    resolution_rate: float | None = Field(description="the closure rate: closed / (due - suspended)")
    on_time_rate: float | None = Field(description="resolved on time / resolved with a deadline")
    satisfaction_rate: float | None = Field(description="ratings of 4 or 5 stars / ratings")
    rework_rate: float | None = Field(description="reopened / resolved at least once")


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
    organisations: list[OrganisationRow] = Field(
        description="each responsible organisation's table row (whatever `group_by`), most cases first"
    )


Count = int | Literal["<3"]


class PublicOrganisationOut(BaseModel):
    organisation: str
    name_en: str
    name_zh: str
    cases: Count = Field(description='its cases in the period; 1 or 2 is shown as "<3"')
    closure_rate: float | None = Field(description="null when fewer than 3 cases count")
    on_time_rate: float | None = Field(description="null with fewer than 3 resolved cases with a deadline")
    ratings: Count
    average_rating: float | None = Field(description="null with fewer than 3 ratings")
    satisfaction_rate: float | None = Field(description="ratings of 4 or 5 stars; null with fewer than 3")


class PublicSummaryOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    community: str
    name: str
    days: int
    from_: datetime = Field(
        alias="from", description="start of the period: the midnight `days - 1` days before today"
    )
    to: datetime = Field(description="end of the period: now, so today so far counts")
    time_zone: str = Field(description="the working time zone whose days these are, e.g. Asia/Shanghai")
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
    by_organisation: list[PublicOrganisationOut] = Field(
        description="per responsible organisation (the owner of a case's team), with the same suppression"
    )


@router.get("/kpis", response_model=KpisOut)
def get_kpis(
    conn: Conn,
    reads: ReadConn,
    user: Reader,
    community: str | None = CommunityParam,
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601, without an offset UTC; default `to` − 30 days"
    ),
    to: datetime | None = Query(default=None, description="ISO 8601, without an offset UTC; default now"),
    group_by: GroupBy = Query(default="category"),
) -> KpisOut:
    """KPIs of the cases created in `[from, to)` (at most 400 days), in total, for the emergencies
    (severity critical) apart, and per category, community, team, grid or responsible organisation
    (the owner of the case's team: response, closure — resolution — on-time, satisfaction and rework
    rates per department or contractor); false alarms per rule and device."""
    start, end = time_range(from_, to, DEFAULT_RANGE)
    report = kpi_service.live(conn, reads, user, community, start, end)
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
            "organisations": kpi_service.named_organisations(conn, report),
        }
    )


class TrendPeriod(KpiBlock):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from", description="a Monday's (week) or a 1st's (month) midnight")
    to: datetime = Field(description="the next period's start (exclusive)")
    as_of: datetime = Field(description="min(to, now): the running period counts up to now")


class TrendOut(BaseModel):
    community: str | None = Field(description="null: every community in the caller's scope")
    interval: Literal["week", "month"]
    time_zone: str = Field(description="the working time zone whose midnights cut the periods")
    periods: list[TrendPeriod] = Field(description="oldest first; the last is the running week or month")


@router.get("/kpis/trend", response_model=TrendOut)
def get_kpi_trend(
    user: Reader,
    conn: Conn,
    reads: ReadConn,
    dispatch: Dispatch,
    community: str | None = CommunityParam,
    interval: Literal["week", "month"] = Query(default="week"),
    periods: int = Query(
        default=12, ge=2, le=26, description="how many weeks or months, the running one included"
    ),
) -> TrendOut:
    """The KPIs of each of the last weeks or months, for trend charts: each period is the cohort of the
    cases created in it, counted as `/kpis` counts them (the definitions are in `hub/cases/kpis.py`)."""
    zone = dispatch.calendar.zone
    points = kpi_service.trend(conn, reads, user, community, interval, periods, zone)
    return TrendOut.model_validate(
        {
            "community": community,
            "interval": interval,
            "time_zone": zone.key,
            "periods": [{"from": p.start, "to": p.end, "as_of": p.as_of, **asdict(p.kpis)} for p in points],
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
            "description": "one row per total, category, community, team, grid, rule, device and organisation",
        }
    },
)
def get_report_csv(
    conn: Conn,
    reads: ReadConn,
    user: Reader,
    dispatch: Dispatch,
    lang: Language,
    month: str = MonthParam,
    community: str | None = CommunityParam,
) -> Response:
    """The monthly report: columns month, community, dimension (total, emergencies, category, community,
    team, grid, rule, device, organisation), key, then the KPIs of `/kpis`, then name; rule and device
    rows fill only the false-alarm columns; organisation rows (the table of the KPI page, small counts
    suppressed) fill opened (its cases), response_rate, closure_rate (the resolution rate), on_time_rate,
    satisfaction_rate and rework_rate, and name: the organisation's, in `lang`."""
    name, text = kpi_service.month_csv(conn, reads, user, community, month, dispatch.calendar.zone, lang)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
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
    reads: ReadConn,
    user: Reader,
    dispatch: Dispatch,
    lang: Language,
    month: str = MonthParam,
    community: str | None = CommunityParam,
) -> Response:
    """The monthly report as one printable HTML page in the reader's language (`lang`), with communities,
    teams, grids and categories by name: plain HTML tables and inline SVG bar charts, no script, no
    style sheet and no external assets (the page obeys the API's content security policy)."""
    page = kpi_service.month_page(conn, reads, user, community, month, dispatch.calendar.zone, lang)
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/public/communities/{community}/summary", response_model=PublicSummaryOut, tags=["public"])
def get_public_summary(
    conn: Conn,
    reads: ReadConn,
    dispatch: Dispatch,
    response: Response,
    community: Annotated[str, Path(min_length=1, max_length=100)],
    days: int = Query(default=30, ge=7, le=365, description="calendar days, today (so far) included"),
) -> PublicSummaryOut:
    """No log-in: a community's case figures for everyone. Counts only, no ids, no descriptions, no
    people: counts of 1 or 2 are "<3", rare categories and statuses are pooled as "other", and medians,
    rates and the average rating need at least 3 cases or ratings. 404 for an unknown community."""
    summary = kpi_service.public_summary(conn, reads, community, days, dispatch.calendar.zone)
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE_S}"
    return PublicSummaryOut.model_validate(
        {
            "community": community,
            "name": summary.name,
            "days": days,
            "from": summary.start,
            "to": summary.end,
            "time_zone": dispatch.calendar.zone.key,
            **asdict(summary.figures),
            "by_organisation": summary.organisations,
        }
    )
