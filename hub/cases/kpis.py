"""Case KPIs as pure formulas over plain rows, so every definition can be read and tested in one place.

The store (`hub.store.kpis`) reads the cohort — the cases created in `[start, end)` in the caller's
scope — with their status-changing events, deadline extensions, suspensions, residents' ratings and
linked alerts. Everything here works on those rows as of `as_of` (`min(end, now)`): an event, extension,
suspension or rating at or after `as_of` does not count, so a past month's report gives the same numbers
whenever it is run.

Per case (`outcome`):

- status: `to_status` of its last status-changing event (by time, then id), else its stored status;
- acknowledged at: its first event with `to_status = acknowledged` (an `acknowledge` or a claim);
- resolved at: while its status is `resolved` or `closed`, the time of its last `resolved` event —
  a resolution that a verifier rejected (`reopen`) does not count;
- closed at: while its status is `closed`, the time of that event;
- duplicate: its status is `cancelled` by a merging move (`merge`, `absorb`, `fold`: its last
  status-changing event is `merged` or `absorbed`): it was taken into another case, the problem's own;
- false alarm: its status is `cancelled` and the cancel reason (the note of the cancelling event, else
  the case's `cancel_reason`) says "false alarm" (any case, also `false-alarm`, `false_alarm`, `误报`);
  merged and absorbed cases are never false alarms;
- suspended: a suspension began before `as_of` and had not ended before it (a suspended case's deadlines
  stand still, so it is not due while the period ends inside its suspension);
- extended: an approved extension (`deadline_extended`) before `as_of`.

Over a set of cases (`kpis`), with n/d = None when d = 0, duplicates are counted (`duplicates`) and
left out of everything else: KPIs count problems, so three fires whose detectors' cases were each
absorbed into their building's case are three cases opened, none cancelled. Then:

- due = not cancelled, and resolve deadline in `[start, as_of)` or closed; suspended = due, not closed and
  suspended at `as_of`;
- closure rate = closed / (due − suspended); on-time closure rate = closed at or before `resolve_due_at`
  / (due − suspended) — as city management counts them;
- extension rate = due cases whose deadline was extended / due;
- response rate = acknowledged at or before `ack_due_at` / cases due to be acknowledged (not cancelled,
  with an acknowledgement deadline, and acknowledged or that deadline in `[start, as_of)` and not
  suspended at `as_of`);
- on-time rate = resolved at or before `resolve_due_at` / resolved with a deadline;
- times to acknowledge and to resolve are measured from `created_at`: mean, and p90 by nearest rank
  (the ⌈0.9·n⌉-th smallest value);
- rework rate = cases reopened at least once / cases resolved at least once;
- per organisation: a case counts for the organisation owning its team now (cases whose team no
  organisation owns are grouped under None); the resolution rate is the closure rate;
- rating average and satisfaction rate (stars ≥ 4) over the ratings of the cases;
- false-alarm rate = false alarms among alert-raised cases / alert-raised cases; per rule and per device
  every distinct rule (device) of the alerts linked to a case counts that case once.
"""

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hub.domain.cases import EVENT, MERGING_MOVES
from hub.domain.kpis import CaseRow, Cohort, EventRow

EMERGENCY = "critical"
SATISFIED_STARS = 4
MIN_PUBLIC_COUNT = 3
SUPPRESSED = "<3"
FALSE_ALARM = re.compile(r"false[\s_-]*alarm|误报", re.IGNORECASE)
GroupBy = Literal["category", "community", "team", "grid", "organisation"]
GROUP_BY: tuple[GroupBy, ...] = ("category", "community", "team", "grid")
"""The groupings of the monthly report (CSV and page)."""
LIVE_GROUP_BY: tuple[GroupBy, ...] = (*GROUP_BY, "organisation")
"""The groupings of the live view: also per responsible organisation (the owner of the case's team)."""
DUPLICATE_ACTIONS = frozenset(EVENT[m] for m in MERGING_MOVES)
"""The events of the moves that take a case into another one."""


@dataclass(frozen=True)
class Outcome:
    """One case as of `as_of`."""

    case: CaseRow
    status: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    ever_resolved: bool
    reopened: bool
    false_alarm: bool
    stars: tuple[int, ...] = ()
    rules: frozenset[str] = field(default_factory=frozenset)
    devices: frozenset[str] = field(default_factory=frozenset)
    suspended: bool = False
    extended: bool = False
    duplicate: bool = False

    @property
    def emergency(self) -> bool:
        return self.case.severity == EMERGENCY

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def ack_seconds(self) -> float | None:
        return _seconds(self.case.created_at, self.acknowledged_at)

    @property
    def resolve_seconds(self) -> float | None:
        return _seconds(self.case.created_at, self.resolved_at)


@dataclass(frozen=True)
class Kpis:
    """The KPI block of a set of cases; every rate is None when its denominator is 0."""

    opened: int
    duplicates: int
    emergencies: int
    cancelled: int
    closed: int
    due: int
    suspended: int
    closure_rate: float | None
    closed_on_time: int
    on_time_closure_rate: float | None
    extended: int
    extension_rate: float | None
    resolved: int
    resolved_with_deadline: int
    resolved_on_time: int
    on_time_rate: float | None
    acknowledged: int
    ack_due: int
    acknowledged_in_time: int
    response_rate: float | None
    ack_seconds_mean: float | None
    ack_seconds_p90: float | None
    resolve_seconds_mean: float | None
    resolve_seconds_p90: float | None
    ever_resolved: int
    reworked: int
    rework_rate: float | None
    ratings: int
    rating_avg: float | None
    satisfied: int
    satisfaction_rate: float | None
    alert_cases: int
    false_alarms: int
    false_alarm_rate: float | None


KPI_FIELDS: tuple[str, ...] = tuple(Kpis.__dataclass_fields__)


@dataclass(frozen=True)
class FalseAlarms:
    key: str
    alert_cases: int
    false_alarms: int
    false_alarm_rate: float | None


def ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def mean(values: Sequence[float]) -> float | None:
    return None if not values else math.fsum(values) / len(values)


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the smallest value with at least 90 % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle values for an even count."""
    return None if not values else float(statistics.median(values))


def is_false_alarm(reason: str | None) -> bool:
    return reason is not None and FALSE_ALARM.search(reason) is not None


def outcomes(cohort: Cohort, as_of: datetime) -> list[Outcome]:
    events: dict[int, list[EventRow]] = defaultdict(list)
    for e in cohort.events:
        if e.at < as_of and e.to_status is not None:
            events[e.case_id].append(e)
    stars: dict[int, list[int]] = defaultdict(list)
    for r in cohort.ratings:
        if r.created_at < as_of:
            stars[r.case_id].append(r.stars)
    rules: dict[int, set[str]] = defaultdict(set)
    devices: dict[int, set[str]] = defaultdict(set)
    for a in cohort.alerts:
        rules[a.case_id].add(a.rule_id)
        if a.device_id is not None:
            devices[a.case_id].add(a.device_id)
    suspended = {
        s.case_id
        for s in cohort.suspensions
        if s.started_at < as_of and (s.ended_at is None or s.ended_at >= as_of)
    }
    extended = {x.case_id for x in cohort.extensions if x.at < as_of}
    return [
        outcome(
            c,
            events[c.id],
            stars[c.id],
            rules[c.id],
            devices[c.id],
            suspended=c.id in suspended,
            extended=c.id in extended,
        )
        for c in cohort.cases
        if c.created_at < as_of
    ]


def outcome(
    case: CaseRow,
    events: Iterable[EventRow],
    stars: Iterable[int] = (),
    rules: Iterable[str] = (),
    devices: Iterable[str] = (),
    *,
    suspended: bool = False,
    extended: bool = False,
) -> Outcome:
    """`events`: the case's status-changing events before `as_of`; `suspended`: under a suspension at
    `as_of`; `extended`: its deadline was extended before `as_of`."""
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    last = ordered[-1] if ordered else None
    status = last.to_status if last is not None and last.to_status is not None else case.status
    acknowledged = next((e.at for e in ordered if e.to_status == "acknowledged"), None)
    resolutions = [e.at for e in ordered if e.to_status == "resolved"]
    resolved_at = resolutions[-1] if resolutions and status in ("resolved", "closed") else None
    closed_at = last.at if last is not None and status == "closed" else None
    reason = (last.note if last is not None and last.note else None) or case.cancel_reason
    duplicate = status == "cancelled" and last is not None and last.action in DUPLICATE_ACTIONS
    return Outcome(
        case=case,
        status=status,
        acknowledged_at=acknowledged,
        resolved_at=resolved_at,
        closed_at=closed_at,
        ever_resolved=bool(resolutions),
        reopened=any(e.to_status == "reopened" for e in ordered),
        false_alarm=status == "cancelled" and not duplicate and is_false_alarm(reason),
        duplicate=duplicate,
        stars=tuple(stars),
        rules=frozenset(rules),
        devices=frozenset(devices),
        suspended=suspended,
        extended=extended,
    )


def is_due(o: Outcome, start: datetime, as_of: datetime) -> bool:
    if o.cancelled:
        return False
    due_in_period = o.case.resolve_due_at is not None and start <= o.case.resolve_due_at < as_of
    return due_in_period or o.closed_at is not None


def is_ack_due(o: Outcome, start: datetime, as_of: datetime) -> bool:
    """Due to be acknowledged: acknowledged, or its acknowledgement deadline fell in the period while
    the case was not suspended at its end (a suspension stops that deadline too)."""
    if o.cancelled or o.case.ack_due_at is None:
        return False
    if o.acknowledged_at is not None:
        return True
    return start <= o.case.ack_due_at < as_of and not o.suspended


def _by(at: datetime | None, deadline: datetime | None) -> bool:
    return at is not None and deadline is not None and at <= deadline


def problems(cases: Iterable[Outcome]) -> list[Outcome]:
    """The cases that are problems of their own: every one but the duplicates."""
    return [o for o in cases if not o.duplicate]


def kpis(cases: Sequence[Outcome], start: datetime, as_of: datetime) -> Kpis:
    duplicates = len(cases)
    cases = problems(cases)
    duplicates -= len(cases)
    closed = sum(1 for o in cases if o.closed_at is not None)
    due_cases = [o for o in cases if is_due(o, start, as_of)]
    due = len(due_cases)
    suspended = sum(1 for o in due_cases if o.suspended and o.closed_at is None)
    closed_on_time = sum(1 for o in cases if _by(o.closed_at, o.case.resolve_due_at))
    extended = sum(1 for o in due_cases if o.extended)
    ack_due = [o for o in cases if is_ack_due(o, start, as_of)]
    ack_in_time = sum(1 for o in ack_due if _by(o.acknowledged_at, o.case.ack_due_at))
    resolved = [o for o in cases if o.resolved_at is not None]
    with_deadline = [o for o in resolved if o.case.resolve_due_at is not None]
    on_time = sum(
        1
        for o in with_deadline
        if o.resolved_at is not None
        and o.case.resolve_due_at is not None
        and o.resolved_at <= o.case.resolve_due_at
    )
    ack = [s for o in cases if (s := o.ack_seconds) is not None]
    res = [s for o in cases if (s := o.resolve_seconds) is not None]
    ever_resolved = sum(1 for o in cases if o.ever_resolved)
    reworked = sum(1 for o in cases if o.ever_resolved and o.reopened)
    stars = [s for o in cases for s in o.stars]
    satisfied = sum(1 for s in stars if s >= SATISFIED_STARS)
    alert_cases = sum(1 for o in cases if o.case.source == "alert")
    false_alarms = sum(1 for o in cases if o.case.source == "alert" and o.false_alarm)
    return Kpis(
        opened=len(cases),
        duplicates=duplicates,
        emergencies=sum(1 for o in cases if o.emergency),
        cancelled=sum(1 for o in cases if o.cancelled),
        closed=closed,
        due=due,
        suspended=suspended,
        closure_rate=ratio(closed, due - suspended),
        closed_on_time=closed_on_time,
        on_time_closure_rate=ratio(closed_on_time, due - suspended),
        extended=extended,
        extension_rate=ratio(extended, due),
        resolved=len(resolved),
        resolved_with_deadline=len(with_deadline),
        resolved_on_time=on_time,
        on_time_rate=ratio(on_time, len(with_deadline)),
        acknowledged=len(ack),
        ack_due=len(ack_due),
        acknowledged_in_time=ack_in_time,
        response_rate=ratio(ack_in_time, len(ack_due)),
        ack_seconds_mean=mean(ack),
        ack_seconds_p90=p90(ack),
        resolve_seconds_mean=mean(res),
        resolve_seconds_p90=p90(res),
        ever_resolved=ever_resolved,
        reworked=reworked,
        rework_rate=ratio(reworked, ever_resolved),
        ratings=len(stars),
        rating_avg=mean([float(s) for s in stars]),
        satisfied=satisfied,
        satisfaction_rate=ratio(satisfied, len(stars)),
        alert_cases=alert_cases,
        false_alarms=false_alarms,
        false_alarm_rate=ratio(false_alarms, alert_cases),
    )


def group_key(o: Outcome, by: GroupBy) -> str | None:
    if by == "category":
        return o.case.category
    if by == "community":
        return o.case.community_id
    if by == "team":
        return o.case.team
    if by == "organisation":
        return o.case.organisation
    return o.case.grid


def breakdown(
    cases: Sequence[Outcome], by: GroupBy, start: datetime, as_of: datetime
) -> list[tuple[str | None, Kpis]]:
    """One KPI block per value of `by` (cases without a team or grid under None), most cases first."""
    groups: dict[str | None, list[Outcome]] = defaultdict(list)
    for o in cases:
        groups[group_key(o, by)].append(o)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0] is None, kv[0] or ""))
    return [(key, kpis(members, start, as_of)) for key, members in ordered]


def false_alarms_by(cases: Sequence[Outcome], what: Literal["rule", "device"]) -> list[FalseAlarms]:
    """Per rule or device of the alert-raised cases: most false alarms first, then highest rate."""
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    keys: Callable[[Outcome], frozenset[str]] = (
        (lambda o: o.rules) if what == "rule" else (lambda o: o.devices)
    )
    for o in problems(cases):
        if o.case.source != "alert":
            continue
        for key in keys(o):
            seen[key][0] += 1
            seen[key][1] += int(o.false_alarm)
    rows = [FalseAlarms(key, n, f, ratio(f, n)) for key, (n, f) in seen.items()]
    return sorted(rows, key=lambda r: (-r.false_alarms, -(r.false_alarm_rate or 0.0), r.key))


# -- the public, anonymous summary -------------------------------------------------------------------------


def public_count(n: int) -> int | str:
    """Counts of 1 or 2 could single out a household: they are published as "<3"."""
    return SUPPRESSED if 0 < n < MIN_PUBLIC_COUNT else n


def pooled(counts: dict[str, int]) -> dict[str, int | str]:
    """Values with fewer than 3 cases are pooled as `other`, so a rare category's name does not point at
    anyone either; `other` itself is "<3" when it holds one or two cases."""
    out: dict[str, int | str] = {}
    other = 0
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= MIN_PUBLIC_COUNT:
            out[key] = n
        else:
            other += n
    if other:
        out["other"] = public_count(other)
    return out


def _public_rate(numerator: int, denominator: int) -> float | None:
    return None if denominator < MIN_PUBLIC_COUNT else round(numerator / denominator, 2)


def _public_minutes(seconds: Sequence[float]) -> float | None:
    m = median(seconds) if len(seconds) >= MIN_PUBLIC_COUNT else None
    return None if m is None else round(m / 60, 1)


@dataclass(frozen=True)
class PublicSummary:
    cases: int | str
    by_category: dict[str, int | str]
    by_status: dict[str, int | str]
    median_minutes_to_acknowledge: float | None
    median_minutes_to_resolve: float | None
    closure_rate: float | None
    on_time_rate: float | None
    ratings: int | str
    average_rating: float | None


def public_summary(cases: Sequence[Outcome], start: datetime, as_of: datetime) -> PublicSummary:
    """Counts with small numbers suppressed; rates, medians and the average rating only over at least 3
    cases (ratings) and rounded (rates to 0.01, minutes to 0.1, stars to 0.1). No ids, no text."""
    k = kpis(cases, start, as_of)
    cases = problems(cases)
    categories: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)
    for o in cases:
        categories[o.case.category] += 1
        statuses[o.status] += 1
    stars = [s for o in cases for s in o.stars]
    return PublicSummary(
        cases=public_count(len(cases)),
        by_category=pooled(categories),
        by_status=pooled(statuses),
        median_minutes_to_acknowledge=_public_minutes([s for o in cases if (s := o.ack_seconds) is not None]),
        median_minutes_to_resolve=_public_minutes([s for o in cases if (s := o.resolve_seconds) is not None]),
        closure_rate=_public_rate(k.closed, k.due - k.suspended),
        on_time_rate=_public_rate(k.resolved_on_time, k.resolved_with_deadline),
        ratings=public_count(len(stars)),
        average_rating=None if len(stars) < MIN_PUBLIC_COUNT else round(sum(stars) / len(stars), 1),
    )


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


@dataclass(frozen=True)
class OrganisationSummary:
    """The public figures of one responsible organisation, under the same suppression as the community's."""

    organisation: str
    cases: int | str
    closure_rate: float | None
    on_time_rate: float | None
    ratings: int | str
    average_rating: float | None
    satisfaction_rate: float | None


def public_by_organisation(
    cases: Sequence[Outcome], start: datetime, as_of: datetime
) -> list[OrganisationSummary]:
    """Residents evaluate the departments and contractors that worked their cases: per organisation
    owning a case's team, counts of 1 or 2 as "<3" and rates only over at least 3 cases or ratings."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in cases:
        if o.case.organisation is not None:
            groups[o.case.organisation].append(o)
    out = []
    for organisation in sorted(groups):
        k = kpis(groups[organisation], start, as_of)
        stars = [s for o in problems(groups[organisation]) for s in o.stars]
        out.append(
            OrganisationSummary(
                organisation=organisation,
                cases=public_count(k.opened),
                closure_rate=_public_rate(k.closed, k.due - k.suspended),
                on_time_rate=_public_rate(k.resolved_on_time, k.resolved_with_deadline),
                ratings=public_count(len(stars)),
                average_rating=None if len(stars) < MIN_PUBLIC_COUNT else round(sum(stars) / len(stars), 1),
                satisfaction_rate=_public_rate(k.satisfied, k.ratings),
            )
        )
    return out


# -- the departments' table of the KPI page, CSV and printable report --------------------------------------

ORGANISATION_RATES = ("response_rate", "resolution_rate", "on_time_rate", "satisfaction_rate", "rework_rate")
"""The figures a 12345 hotline publishes for each department, in the order the tables show them."""


@dataclass(frozen=True)
class OrganisationFigures:
    """One responsible organisation's row: its cases and the five rates, under the suppression of the
    public summary (a count of 1 or 2 is "<3", a rate over fewer than 3 cases or ratings is None), since
    a department's figure over one or two cases says nothing about the department."""

    organisation: str
    cases: int | str
    response_rate: float | None
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    rework_rate: float | None


def organisation_table(
    cases: Sequence[Outcome], start: datetime, as_of: datetime
) -> list[OrganisationFigures]:
    """Per organisation owning a case's team, most cases first: response rate (acknowledged in time),
    resolution rate (the closure rate), on-time rate, satisfaction rate and rework rate, each over the
    denominator the live KPIs use. Cases of teams no organisation owns are nobody's row."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in cases:
        if o.case.organisation is not None:
            groups[o.case.organisation].append(o)
    rows = []
    for organisation, members in groups.items():
        k = kpis(members, start, as_of)
        rows.append(
            (
                k.opened,
                OrganisationFigures(
                    organisation=organisation,
                    cases=public_count(k.opened),
                    response_rate=_suppressed(k.acknowledged_in_time, k.ack_due),
                    resolution_rate=_suppressed(k.closed, k.due - k.suspended),
                    on_time_rate=_suppressed(k.resolved_on_time, k.resolved_with_deadline),
                    satisfaction_rate=_suppressed(k.satisfied, k.ratings),
                    rework_rate=_suppressed(k.reworked, k.ever_resolved),
                ),
            )
        )
    return [figures for _, figures in sorted(rows, key=lambda r: (-r[0], r[1].organisation))]


def _suppressed(numerator: int, denominator: int) -> float | None:
    """A rate in full, as the live KPIs give it, or None over fewer than 3."""
    return None if denominator < MIN_PUBLIC_COUNT else numerator / denominator
