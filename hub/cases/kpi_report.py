"""The KPI report of one cohort and its monthly CSV. The live view, the CSV and the printable page all
read one `Report`, so they cannot disagree on a figure. Pure: the rows come in, text goes out."""

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hub.cases.kpis import (
    GROUP_BY,
    KPI_FIELDS,
    LIVE_GROUP_BY,
    FalseAlarms,
    GroupBy,
    Kpis,
    OrganisationFigures,
    Outcome,
    breakdown,
    false_alarms_by,
    kpis,
    organisation_table,
)

CSV_COLUMNS = ("month", "community", "dimension", "key", *KPI_FIELDS, "name")
ORGANISATION_CSV = {
    "opened": "cases",
    "response_rate": "response_rate",
    "closure_rate": "resolution_rate",
    "on_time_rate": "on_time_rate",
    "satisfaction_rate": "satisfaction_rate",
    "rework_rate": "rework_rate",
}
"""The KPI columns an organisation's row fills (the resolution rate is the closure rate), from its
`OrganisationFigures`; the others stay empty."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Report:
    """KPIs of the cases created in `[start, end)`, counted as of `as_of`."""

    start: datetime
    end: datetime
    as_of: datetime
    totals: Kpis
    emergencies: Kpis
    groups: dict[GroupBy, list[tuple[str | None, Kpis]]]
    by_rule: list[FalseAlarms]
    by_device: list[FalseAlarms]
    organisations: list[OrganisationFigures]


def report(cases: Sequence[Outcome], start: datetime, end: datetime, as_of: datetime) -> Report:
    return Report(
        start=start,
        end=end,
        as_of=as_of,
        totals=kpis(cases, start, as_of),
        emergencies=kpis([o for o in cases if o.emergency], start, as_of),
        groups={by: breakdown(cases, by, start, as_of) for by in LIVE_GROUP_BY},
        by_rule=false_alarms_by(cases, "rule"),
        by_device=false_alarms_by(cases, "device"),
        organisations=organisation_table(cases, start, as_of),
    )


def rows(r: Report) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(dimension, key, figures): total, emergencies, each grouping, false alarms per rule and device, then
    each organisation's table row under the KPI columns it fills."""
    out: list[tuple[str, str | None, dict[str, Any]]] = [
        ("total", None, asdict(r.totals)),
        ("emergencies", None, asdict(r.emergencies)),
    ]
    for by in GROUP_BY:
        out += [(by, key, asdict(k)) for key, k in r.groups[by]]
    for dimension, items in (("rule", r.by_rule), ("device", r.by_device)):
        out += [(dimension, fa.key, asdict(fa)) for fa in items]
    for o in r.organisations:
        figures = asdict(o)
        out.append(("organisation", o.organisation, {f: figures[g] for f, g in ORGANISATION_CSV.items()}))
    return out


def csv_text(r: Report, month: str, where: str, names: Mapping[str, str] | None = None) -> str:
    """One row per `rows`; a KPI a row does not have (the rule, device and organisation rows) is an empty
    cell. `name` is an organisation's name from `names` (in the reader's language), empty elsewhere."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for dimension, key, values in rows(r):
        name = (names or {}).get(key or "", key or "") if dimension == "organisation" else ""
        writer.writerow(
            [
                month,
                _cell(where),
                dimension,
                _cell(key or ""),
                *(_csv_value(values.get(f)) for f in KPI_FIELDS),
                _cell(name),
            ]
        )
    return out.getvalue()


def csv_name(where: str, month: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in where)[:100]
    return f"kpis-{safe}-{month}.csv"


def _csv_value(v: Any) -> str:
    """Floats in full (`repr`), so the CSV gives back exactly what `/kpis` answers."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _cell(text: str) -> str:
    """Text that a spreadsheet would run as a formula (a grid named "=HYPERLINK(…)") gets a leading quote."""
    return "'" + text if text.startswith(_FORMULA_START) else text
