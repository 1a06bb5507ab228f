"""The monthly KPI report as one printable page: the figures as people read them (percentages, durations,
labels) in the reader's language here, the layout in the Jinja2 templates `hub/templates/kpi_report.html`
and `bar_chart.html`. No database: a `Report` and the names of its group keys in, HTML out, so the page
can be checked without the API. Every text the reader sees is in `LABELS` and `TEXT`, English next to
Chinese, so a string missing in one language shows in review rather than in print."""

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from hub.cases.kpi_report import Report
from hub.cases.kpis import GROUP_BY, KPI_FIELDS, ORGANISATION_RATES, Kpis
from hub.domain.language import CATEGORY_NAMES, Lang

GroupNames = Mapping[str, Mapping[str, str]]
"""grouping (team, community, grid, organisation) → key → the name to print instead of the key"""

LABELS: dict[Lang, dict[str, str]] = {
    "en": {
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
    },
    "zh": {
        "opened": "新建工单",
        "duplicates": "重复工单（已合并或吸收）",
        "emergencies": "紧急（严重）",
        "cancelled": "已取消",
        "closed": "已关闭",
        "due": "到期",
        "suspended": "到期但期末挂起",
        "closure_rate": "结案率",
        "closed_on_time": "按时结案",
        "on_time_closure_rate": "按时结案率",
        "extended": "已延期",
        "extension_rate": "延期率",
        "resolved": "已解决",
        "resolved_with_deadline": "有时限的已解决",
        "resolved_on_time": "按时解决",
        "on_time_rate": "按时率",
        "acknowledged": "已受理",
        "ack_due": "应受理",
        "acknowledged_in_time": "按时受理",
        "response_rate": "响应率",
        "ack_seconds_mean": "受理用时（平均）",
        "ack_seconds_p90": "受理用时（P90）",
        "resolve_seconds_mean": "解决用时（平均）",
        "resolve_seconds_p90": "解决用时（P90）",
        "ever_resolved": "至少解决过一次",
        "reworked": "返工（重开）",
        "rework_rate": "返工率",
        "ratings": "评价数",
        "rating_avg": "平均评分",
        "satisfied": "4–5 星评价",
        "satisfaction_rate": "满意率",
        "alert_cases": "告警工单",
        "false_alarms": "误报",
        "false_alarm_rate": "误报率",
    },
}
"""The KPIs' names, as the dashboard's `kpi.*` labels name them."""

TEXT: dict[Lang, dict[str, str]] = {
    "en": {
        "html_lang": "en",
        "title": "Case KPIs {month} – {where}",
        "heading": "Case KPIs – {where} – {month}",
        "period": "Cases created from {start} to {end} ({zone}); events and ratings up to {as_of}. "
        "Rates are null (–) when nothing is counted.",
        "everywhere": "all communities in your scope",
        "totals": "Totals",
        "kpi": "KPI",
        "all_cases": "all cases",
        "emergencies": "emergencies",
        "section": "By {by}",
        "chart": "{measure} by {by}",
        "no_cases": "no cases",
        "none": "(none)",
        "by_rule": "False alarms by rule",
        "by_device": "False alarms by device",
        "key": "key",
        "alert_cases": "alert cases",
        "false_alarms": "false alarms",
        "false_alarm_rate": "false-alarm rate",
        "no_alert_cases": "No alert-raised cases.",
        "category": "category",
        "community": "community",
        "team": "team",
        "grid": "grid",
        "organisation": "organisation",
        "cases": "Cases",
        "resolution_rate": "Resolution rate",
        "by_organisation": "By responsible organisation",
        "organisation_note": "Departments and contractors owning the cases' teams. As in the public "
        "summary, 1 or 2 cases show as <3 and a rate over fewer than 3 cases (ratings) as –.",
        "no_organisations": "No case of an organisation's team.",
        "s": "{n} s",
        "min": "{n} min",
        "h": "{n} h",
        "d": "{n} d",
    },
    "zh": {
        "html_lang": "zh-CN",
        "title": "工单绩效指标 {month} – {where}",
        "heading": "工单绩效指标 – {where} – {month}",
        "period": "统计 {start} 至 {end}（{zone}）创建的工单；事件与评价截至 {as_of}。"
        "无可计数的工单时比率为空（–）。",
        "everywhere": "您权限内的全部社区",
        "totals": "合计",
        "kpi": "指标",
        "all_cases": "全部工单",
        "emergencies": "紧急工单",
        "section": "按{by}",
        "chart": "按{by}：{measure}",
        "no_cases": "没有工单",
        "none": "（无）",
        "by_rule": "按规则统计误报",
        "by_device": "按设备统计误报",
        "key": "名称",
        "alert_cases": "告警工单",
        "false_alarms": "误报",
        "false_alarm_rate": "误报率",
        "no_alert_cases": "没有由告警产生的工单。",
        "category": "类别",
        "community": "社区",
        "team": "班组",
        "grid": "网格",
        "organisation": "责任单位",
        "cases": "工单数",
        "resolution_rate": "解决率",
        "by_organisation": "按责任部门或单位",
        "organisation_note": "工单所属班组的部门和承包单位。与公开概况相同，1–2 个工单显示为 <3，"
        "少于 3 个工单（评价）的比率显示为 –。",
        "no_organisations": "没有属于单位班组的工单。",
        "s": "{n} 秒",
        "min": "{n} 分钟",
        "h": "{n} 小时",
        "d": "{n} 天",
    },
}
"""The page's own words; `{…}` are filled in by the template. The group-by names double as the first
column's header, and the units are those of `shown`."""
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


ORGANISATION_FIELDS = ("cases", *ORGANISATION_RATES)
"""The columns of the organisations' table after the name (`cases` and `resolution_rate` are named in
`TEXT`, the other rates in `LABELS`)."""


@dataclass(frozen=True)
class Section:
    """One grouping under its name in the reader's language: its rows under printable labels, and the
    largest case count (the opened chart's scale)."""

    name: str
    rows: list[tuple[str, Kpis]]
    most_opened: float


def shown(value: float | str | None, name: str, lang: Lang = "en") -> str:
    """A figure as the page prints it: rates in percent, times in a readable unit, "–" for none, a
    suppressed count ("<3") as it is."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if name.endswith("_rate"):
        return f"{value * 100:.1f} %"
    if "_seconds_" in name:
        return _duration(float(value), TEXT[lang])
    if name == "rating_avg":
        return f"{value:.2f}"
    return str(value)


def _duration(seconds: float, text: Mapping[str, str]) -> str:
    if abs(seconds) < 120:
        return text["s"].format(n=f"{seconds:.0f}")
    if abs(seconds) < 2 * 3600:
        return text["min"].format(n=f"{seconds / 60:.1f}")
    if abs(seconds) < 2 * 86400:
        return text["h"].format(n=f"{seconds / 3600:.1f}")
    return text["d"].format(n=f"{seconds / 86400:.1f}")


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


def render(
    report: Report,
    where: str | None,
    month: str,
    zone: ZoneInfo,
    lang: Lang = "en",
    names: GroupNames | None = None,
) -> str:
    """`where` names the communities counted (None: every community in the reader's scope); times are
    shown in `zone`, the zone the month is cut in. A group key (and an organisation) is printed under its
    name in `names`, a category under its name in `lang`, any other key as it is."""
    text = TEXT[lang]
    known = {"category": CATEGORY_NAMES[lang], **(names or {})}
    return _templates.get_template("kpi_report.html").render(
        report=report,
        where=text["everywhere"] if where is None else where,
        month=month,
        zone=str(zone),
        start=report.start.astimezone(zone),
        end=report.end.astimezone(zone),
        as_of=report.as_of.astimezone(zone),
        lang=lang,
        text=text,
        labels=LABELS[lang],
        kpi_fields=KPI_FIELDS,
        table_fields=TABLE_FIELDS,
        sections=[_section(text, by, report.groups[by], known.get(by, {})) for by in GROUP_BY],
        organisations=[
            (known.get("organisation", {}).get(o.organisation, o.organisation), o)
            for o in report.organisations
        ],
        organisation_fields=ORGANISATION_FIELDS,
    )


def _section(
    text: Mapping[str, str], by: str, groups: list[tuple[str | None, Kpis]], names: Mapping[str, str]
) -> Section:
    return Section(
        name=text[by],
        rows=[(text["none"] if key is None else names.get(key, key), k) for key, k in groups],
        most_opened=max((float(k.opened) for _, k in groups), default=0.0),
    )
