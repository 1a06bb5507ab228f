"""Case KPIs as the API serves them: the live view over a free range, the monthly report as CSV and as
a printable page, and a community's anonymous public summary.

The caller's community scope is applied here: a community outside it answers as if it did not exist.
The store loads the cohort; the figures come from the pure formulas of `hub.cases.kpis`.

Each function takes two connections: `conn`, the primary, for whether the community exists (one just
created counts at once), and `reads`, which may be a standby a replication lag behind, for the cases,
ratings and names counted.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg

from hub.cases import kpi_periods, kpi_report
from hub.cases import kpis as formulas
from hub.cases.kpi_report import Report
from hub.domain.errors import NotFound
from hub.domain.language import Lang
from hub.domain.users import User
from hub.services import kpi_page
from hub.store import communities as community_store
from hub.store import kpis as kpi_store
from hub.store import organisations as org_store
from hub.store import teams as team_store


def live(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    community: str | None,
    start: datetime,
    end: datetime,
) -> Report:
    """KPIs of the cases created in `[start, end)` (at most 400 days) in `community`, or in the caller's
    scope when it is None; counted up to now while the period is still running."""
    kpi_periods.bounded(start, end)
    return _report(reads, _communities(conn, user, community), start, end)


def named_organisations(conn: psycopg.Connection[Any], report: Report) -> list[dict[str, Any]]:
    """The report's organisation rows with each organisation's names in English and Chinese (its id
    where it has no record any more)."""
    names = {o["id"]: o for o in org_store.organisations(conn)}
    return [
        {
            **asdict(o),
            "name_en": names[o.organisation]["name_en"] if o.organisation in names else o.organisation,
            "name_zh": names[o.organisation]["name_zh"] if o.organisation in names else o.organisation,
        }
        for o in report.organisations
    ]


def month_csv(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    community: str | None,
    month: str,
    zone: ZoneInfo,
    lang: Lang = "en",
) -> tuple[str, str]:
    """(file name, CSV text) of the report of `month` (`YYYY-MM`, cut at midnights in `zone`). The CSV is
    for spreadsheets and integrations, so its keys stay ids; organisations' rows add their names in
    `lang`."""
    report = _month_report(reads, _communities(conn, user, community), month, zone)
    where = community or "all"
    names = _organisation_names(conn, lang)
    return kpi_report.csv_name(where, month), kpi_report.csv_text(report, month, where, names)


def _organisation_names(conn: psycopg.Connection[Any], lang: Lang) -> dict[str, str]:
    return {o["id"]: o["name_zh"] if lang == "zh" else o["name_en"] for o in org_store.organisations(conn)}


def month_page(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    community: str | None,
    month: str,
    zone: ZoneInfo,
    lang: Lang,
) -> str:
    """The printable HTML page of the report of `month` in `lang`: people read it, so communities, teams
    and grids go by their names where the hub has them."""
    communities = _communities(conn, user, community)
    report = _month_report(reads, communities, month, zone)
    names = _group_names(reads, report, communities, community, lang)
    where = None if community is None else names["community"].get(community, community)
    return kpi_page.render(report, where, month, zone, lang, names)


def _group_names(
    conn: psycopg.Connection[Any],
    report: Report,
    communities: list[str] | None,
    community: str | None,
    lang: Lang,
) -> dict[str, dict[str, str]]:
    """The names in `lang` of the communities, teams, grids and organisations `report` groups by (and of
    `community`, which may have no case). A key without a record keeps its id, and so does a grid id that several
    communities' grids use, since the report cannot tell them apart."""
    zh = lang == "zh"
    counted = {key for key, _ in report.groups["community"] if key is not None}
    if community is not None:
        counted.add(community)
    places = {r["id"]: (zh and r["name_zh"]) or r["name"] for r in community_store.names(conn, counted)}
    teams = {r["team"]: r["name_zh"] if zh else r["name_en"] for r in team_store.names(conn)}
    grids: dict[str, list[str]] = {}
    grid_ids = {key for key, _ in report.groups["grid"] if key is not None}
    for r in community_store.grid_names(conn, grid_ids, communities):
        grids.setdefault(r["id"], []).append(r["name_zh"] if zh else r["name_en"])
    return {
        "community": places,
        "team": teams,
        "grid": {grid: found[0] for grid, found in grids.items() if len(found) == 1},
        "organisation": _organisation_names(conn, lang),
    }


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    end: datetime
    as_of: datetime
    kpis: formulas.Kpis


def trend(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    community: str | None,
    interval: Literal["week", "month"],
    count: int,
    zone: ZoneInfo,
) -> list[TrendPoint]:
    """The KPIs of each of the last `count` weeks or months (cut at midnights in `zone`), oldest first;
    the running one counts up to now. Each period is its own cohort, as in the monthly report."""
    communities = _communities(conn, user, community)
    now = datetime.now(UTC)
    points = []
    for start, end in kpi_periods.recent(now.astimezone(zone).date(), interval, count, zone):
        as_of = min(end, now)
        cohort = kpi_store.cohort(reads, communities=communities, start=start, end=end, as_of=as_of)
        points.append(
            TrendPoint(start, end, as_of, formulas.kpis(formulas.outcomes(cohort, as_of), start, as_of))
        )
    return points


@dataclass(frozen=True)
class CommunitySummary:
    name: str
    start: datetime
    end: datetime
    figures: formulas.PublicSummary
    organisations: list[dict[str, Any]]
    """the figures of each responsible organisation, with its names"""


def public_summary(
    conn: psycopg.Connection[Any], reads: psycopg.Connection[Any], community: str, days: int, zone: ZoneInfo
) -> CommunitySummary:
    """For anyone, without a log-in: the last `days` days in `zone`, today so far included, small counts
    hidden by `hub.cases.kpis.public_summary`."""
    name = kpi_store.community_name(conn, community)
    if name is None:
        raise NotFound(f"no community {community}")
    start, end = kpi_periods.days_until(datetime.now(UTC), days, zone)
    cohort = kpi_store.cohort(reads, communities=[community], start=start, end=end, as_of=end)
    outcomes = formulas.outcomes(cohort, end)
    figures = formulas.public_summary(outcomes, start, end)
    names = {o["id"]: o for o in org_store.organisations(reads)}
    organisations = [
        {
            **asdict(s),
            "name_en": names[s.organisation]["name_en"] if s.organisation in names else s.organisation,
            "name_zh": names[s.organisation]["name_zh"] if s.organisation in names else s.organisation,
        }
        for s in formulas.public_by_organisation(outcomes, start, end)
    ]
    return CommunitySummary(name, start, end, figures, organisations)


def _communities(conn: psycopg.Connection[Any], user: User, community: str | None) -> list[str] | None:
    """The communities to count: the one asked for if the caller may see it (else NotFound, whether it
    exists or not), otherwise the caller's scope (None: every community)."""
    allowed = user.community_scope()
    if community is None:
        return allowed
    if (allowed is not None and community not in allowed) or kpi_store.community_name(
        conn, community
    ) is None:
        where = "" if allowed is None else " in your communities"
        raise NotFound(f"no community {community}{where}")
    return [community]


def _month_report(
    conn: psycopg.Connection[Any], communities: list[str] | None, month: str, zone: ZoneInfo
) -> Report:
    start, end = kpi_periods.month(month, zone)
    return _report(conn, communities, start, end)


def _report(
    conn: psycopg.Connection[Any], communities: list[str] | None, start: datetime, end: datetime
) -> Report:
    """Events and ratings count up to `min(end, now)`, so a past month gives the same figures whenever
    it is asked for."""
    as_of = min(end, datetime.now(UTC))
    cohort = kpi_store.cohort(conn, communities=communities, start=start, end=end, as_of=as_of)
    return kpi_report.report(formulas.outcomes(cohort, as_of), start, end, as_of)
