"""The monthly KPI report as one printable page: the figures as people read them (percentages, durations,
labels) here, the layout in the Jinja2 templates `hub/templates/kpi_report.html` and `bar_chart.html`.
No database: a `Report` in, HTML out, so the page can be checked without the API."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from hub.cases.kpi_report import Report
from hub.cases.kpis import GROUP_BY, KPI_FIELDS, Kpis

LABELS: dict[str, str] = {
    "opened": "Cases opened",
    "duplicates": "Duplicates (merged or absorbed)",
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
TABLE_FIELDS = (
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
"""The columns of a grouping's table: the page is printed, so the counts behind each rate stay in the CSV."""


@dataclass(frozen=True)
class Section:
    """One grouping: its rows under printable labels, and the largest case count (the opened chart's scale)."""

    by: str
    rows: list[tuple[str, Kpis]]
    most_opened: float


def shown(value: float | None, name: str) -> str:
    """A figure as the page prints it: rates in percent, times in a readable unit, "–" for none."""
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


def share(value: float | None, maximum: float) -> float:
    """How much of a chart's bar `value` fills, from 0 to 1; no bar for none or an empty scale."""
    return 0.0 if value is None or maximum <= 0 else max(0.0, min(1.0, value / maximum))


_templates = Environment(
    loader=PackageLoader("hub", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["shown"] = shown
_templates.filters["share"] = share


def render(report: Report, where: str, month: str, zone: ZoneInfo) -> str:
    """`where` names the communities counted; times are shown in `zone`, the zone the month is cut in."""
    return _templates.get_template("kpi_report.html").render(
        report=report,
        where=where,
        month=month,
        zone=str(zone),
        start=report.start.astimezone(zone),
        end=report.end.astimezone(zone),
        as_of=report.as_of.astimezone(zone),
        labels=LABELS,
        kpi_fields=KPI_FIELDS,
        table_fields=TABLE_FIELDS,
        sections=[_section(by, report.groups[by]) for by in GROUP_BY],
    )


def _section(by: str, groups: list[tuple[str | None, Kpis]]) -> Section:
    return Section(
        by=by,
        rows=[(key if key is not None else "(none)", k) for key, k in groups],
        most_opened=max((float(k.opened) for _, k in groups), default=0.0),
    )
