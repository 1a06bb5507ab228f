"""The KPI formulas of hub.cases.kpis on plain rows: no database."""

from datetime import UTC, datetime, timedelta

import pytest

from hub.cases.kpis import (
    Outcome,
    breakdown,
    false_alarms_by,
    is_ack_due,
    is_due,
    is_false_alarm,
    kpis,
    median,
    outcome,
    outcomes,
    p90,
    pooled,
    public_count,
    public_summary,
    ratio,
)
from hub.domain.kpis import AlertLink, CaseRow, Cohort, EventRow, ExtensionRow, RatingRow, SuspensionRow

T0 = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
M = timedelta(minutes=1)


def case(
    n: int,
    *,
    category: str = "fire",
    source: str = "alert",
    severity: str = "major",
    due: timedelta | None = None,
    ack: timedelta | None = None,
) -> CaseRow:
    return CaseRow(
        id=n,
        community_id="c",
        category=category,
        team=None if n % 2 else "t",
        grid=None,
        severity=severity,
        source=source,
        status="dispatched",
        created_at=T0 + n * 60 * M,
        resolve_due_at=None if due is None else T0 + n * 60 * M + due,
        cancel_reason=None,
        ack_due_at=None if ack is None else T0 + n * 60 * M + ack,
    )


def moves(c: CaseRow, *steps: tuple[int, str, str | None]) -> list[EventRow]:
    """(minutes after the case opened, to_status, note)"""
    return [EventRow(c.id, i, c.created_at + m * M, to, note) for i, (m, to, note) in enumerate(steps)]


def test_ratios_means_and_percentiles() -> None:
    assert ratio(1, 0) is None and ratio(1, 4) == 0.25
    assert p90([]) is None and p90([7.0]) == 7.0
    assert p90([float(v) for v in range(1, 11)]) == 9.0  # rank ⌈9⌉ = 9
    assert p90([float(v) for v in range(1, 12)]) == 10.0  # rank ⌈9.9⌉ = 10
    assert p90([5.0, 1.0, 3.0]) == 5.0
    assert median([]) is None and median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0, 3.0, 10.0]) == 2.5


@pytest.mark.parametrize(
    ("reason", "false_alarm"),
    [
        ("false alarm", True),
        ("False Alarm: burnt toast", True),
        ("false-alarm", True),
        ("FALSE_ALARM", True),
        ("误报", True),
        ("merged into #12", False),
        ("absorbed into case #4", False),
        ("duplicate report", False),
        (None, False),
    ],
)
def test_what_counts_as_a_false_alarm(reason: str | None, false_alarm: bool) -> None:
    assert is_false_alarm(reason) is false_alarm


def test_an_outcome_reads_the_events_in_order_and_a_rejected_resolution_does_not_count() -> None:
    c = case(1, due=timedelta(hours=3))
    events = moves(
        c,
        (0, "new", None),
        (0, "dispatched", None),
        (5, "acknowledged", None),
        (6, "in_progress", None),
        (30, "resolved", "first"),
        (40, "reopened", None),
        (41, "acknowledged", None),
    )
    o = outcome(c, reversed(events))  # order comes from the timestamps, not from the input
    assert (o.status, o.acknowledged_at, o.resolved_at, o.closed_at) == (
        "acknowledged",
        c.created_at + 5 * M,
        None,
        None,
    )
    assert o.ever_resolved and o.reopened
    done = outcome(
        c, [*events, *moves(c, (50, "in_progress", None), (70, "resolved", "x"), (80, "closed", None))]
    )
    assert (done.resolve_seconds, done.closed_at) == (70 * 60, c.created_at + 80 * M)


def test_without_events_the_stored_status_stands_and_later_events_are_ignored() -> None:
    c = case(1)
    assert outcome(c, []).status == "dispatched"
    cohort = Cohort(
        [c, case(2, category="fire")],
        events=moves(c, (0, "new", None), (10, "cancelled", "false alarm")),
        ratings=[RatingRow(1, 5, c.created_at + 5 * M)],
        alerts=[AlertLink(1, "r1", "d1"), AlertLink(1, "r2", None)],
    )
    early = outcomes(cohort, c.created_at + 10 * M)
    assert [o.case.id for o in early] == [1], "case 2 opened after as_of"
    assert (early[0].status, early[0].false_alarm, early[0].stars) == ("new", False, (5,))
    late = outcomes(cohort, END)
    assert late[0].status == "cancelled" and late[0].false_alarm
    assert (late[0].rules, late[0].devices) == (frozenset({"r1", "r2"}), frozenset({"d1"}))


def test_merged_and_absorbed_cases_are_duplicates_counted_apart_from_the_problems() -> None:
    """Three fires: each building's case absorbed its two detectors' cases. Three problems, six
    duplicates, none cancelled; a merge after `as_of` or one undone by a split is no duplicate."""
    fires = [case(n, due=120 * M) for n in range(1, 10)]
    events: list[EventRow] = []
    for group, *members in (fires[0:3], fires[3:6], fires[6:9]):
        events += moves(group, (0, "dispatched", None), (5, "acknowledged", None))
        for m in members:
            events += [
                EventRow(m.id, 100 + m.id, m.created_at + M, "cancelled", "absorbed into case", "absorbed")
            ]
    late, split = case(10, source="resident"), case(11, source="resident")
    events += [
        EventRow(late.id, 200, late.created_at + 2 * 60 * M, "cancelled", "merged into #1", "merged"),
        EventRow(split.id, 201, split.created_at + M, "cancelled", "merged into #1", "merged"),
        EventRow(split.id, 202, split.created_at + 2 * M, "dispatched", "split off #1", "split"),
    ]
    as_of = split.created_at + 30 * M
    rows = outcomes(Cohort([*fires, late, split], events=events), as_of)
    assert [o.case.id for o in rows if o.duplicate] == [2, 3, 5, 6, 8, 9]
    k = kpis(rows, T0, as_of)
    assert (k.opened, k.duplicates, k.cancelled, k.alert_cases, k.false_alarms) == (5, 6, 0, 3, 0)
    assert (k.acknowledged, k.emergencies) == (3, 0)
    later = kpis(outcomes(Cohort([*fires, late, split], events=events), END), T0, END)
    assert (later.opened, later.duplicates) == (4, 7), "merged after the first as_of"
    summary = public_summary(rows, T0, as_of)
    assert summary.cases == 5 and summary.by_status == {"acknowledged": 3, "other": "<3"}, "no cancelled"


def test_due_means_deadline_in_the_period_or_closed_and_never_cancelled() -> None:
    start, as_of = T0, T0 + timedelta(days=1)
    on_start = outcome(case(0, due=timedelta(0)), [])
    assert is_due(on_start, start, as_of), "a deadline at the start is in the period"
    c = case(1, due=timedelta(days=1) - 60 * M)  # deadline exactly at as_of: not yet due
    assert not is_due(outcome(c, []), start, as_of)
    assert is_due(outcome(c, moves(c, (5, "closed", None))), start, as_of), "closed counts as due"
    assert not is_due(outcome(c, moves(c, (5, "cancelled", "x"))), start, as_of)


def test_kpis_over_a_few_cases() -> None:
    a, b, r = case(1, due=60 * M), case(2, due=60 * M), case(3, source="resident", due=10 * M)
    rows = [
        outcome(
            a, moves(a, (10, "acknowledged", None), (50, "resolved", "x"), (55, "closed", None)), stars=[5, 3]
        ),
        outcome(b, moves(b, (5, "cancelled", "False alarm")), rules=["r1"], devices=["d1"]),
        outcome(r, moves(r, (20, "acknowledged", None), (30, "resolved", "y")), stars=[4]),
    ]
    k = kpis(rows, T0, END)
    assert (k.opened, k.closed, k.due, k.closure_rate) == (3, 1, 2, 0.5)
    assert (k.resolved, k.resolved_on_time, k.on_time_rate) == (2, 1, 0.5)
    assert (k.ack_seconds_mean, k.ack_seconds_p90) == (15 * 60, 20 * 60)
    assert (k.ratings, k.rating_avg, k.satisfied) == (3, 4.0, 2)
    assert k.satisfaction_rate == pytest.approx(2 / 3)
    assert (k.alert_cases, k.false_alarms, k.false_alarm_rate) == (2, 1, 0.5)
    assert (k.ever_resolved, k.reworked, k.rework_rate) == (2, 0, 0.0)
    empty = kpis([], T0, END)
    assert empty.opened == 0 and empty.closure_rate is None and empty.ack_seconds_p90 is None


def test_suspended_extended_and_acknowledged_in_time_as_city_management_counts_them() -> None:
    """Five cases, all with a 2 h deadline and a 30 min acknowledgement limit inside the day."""
    as_of = T0 + timedelta(days=1)
    cs = [case(n, due=120 * M, ack=30 * M) for n in range(1, 6)]
    cohort = Cohort(
        cs,
        events=[
            *moves(cs[0], (10, "acknowledged", None), (60, "resolved", "x"), (100, "closed", None)),
            *moves(cs[1], (45, "acknowledged", None), (150, "resolved", "x"), (160, "closed", None)),
            *moves(cs[3], (5, "cancelled", "duplicate")),
        ],
        suspensions=[
            SuspensionRow(cs[2].id, cs[2].created_at + 20 * M, None),  # in force at as_of
            SuspensionRow(cs[4].id, cs[4].created_at + 20 * M, as_of),  # ends at as_of: still in force
            SuspensionRow(cs[0].id, cs[0].created_at + 20 * M, cs[0].created_at + 30 * M),  # over
        ],
        extensions=[ExtensionRow(cs[1].id, cs[1].created_at + 50 * M), ExtensionRow(cs[2].id, as_of)],
    )
    rows = outcomes(cohort, as_of)
    assert [(o.suspended, o.extended) for o in rows] == [
        (False, False),
        (False, True),
        (True, False),
        (False, False),
        (True, False),
    ]
    assert [is_ack_due(o, T0, as_of) for o in rows] == [True, True, False, False, False]
    k = kpis(rows, T0, as_of)
    # due: 1, 2 (closed), 3 and 5 (deadline passed); 4 was cancelled; 3 and 5 suspended over the end
    assert (k.due, k.suspended, k.closed, k.closure_rate) == (4, 2, 2, 1.0)
    assert (k.closed_on_time, k.on_time_closure_rate) == (1, 0.5), "case 2 closed after its 2 h"
    assert (k.extended, k.extension_rate) == (1, 0.25), "case 3's extension came at as_of"
    assert (k.ack_due, k.acknowledged_in_time, k.response_rate) == (2, 1, 0.5)
    assert kpis([], T0, as_of).response_rate is None and kpis([], T0, as_of).extension_rate is None


def test_breakdown_and_false_alarms_per_key() -> None:
    rows = [
        outcome(case(1), [], rules=["r1", "r2"], devices=["d1"]),
        outcome(case(2), moves(case(2), (1, "cancelled", "false alarm")), rules=["r1"], devices=["d1"]),
        outcome(case(3), [], rules=["r2"]),
        outcome(case(4), [], rules=["r9"]),
        outcome(case(5, source="resident"), moves(case(5), (1, "cancelled", "false alarm")), rules=["r9"]),
    ]
    teams = breakdown(rows, "team", T0, END)
    assert [(key, k.opened) for key, k in teams] == [(None, 3), ("t", 2)]
    by_rule = false_alarms_by(rows, "rule")
    assert [(r.key, r.alert_cases, r.false_alarms) for r in by_rule] == [
        ("r1", 2, 1),
        ("r2", 2, 0),
        ("r9", 1, 0),
    ], "a resident's report is no alert case, even with an alert linked"
    assert [(r.key, r.false_alarm_rate) for r in false_alarms_by(rows, "device")] == [("d1", 0.5)]


def test_small_counts_are_hidden_or_pooled() -> None:
    assert [public_count(n) for n in (0, 1, 2, 3, 40)] == [0, "<3", "<3", 3, 40]
    assert pooled({"fire": 5, "gas": 1, "flood": 1}) == {"fire": 5, "other": "<3"}
    assert pooled({"fire": 5, "gas": 2, "flood": 1}) == {"fire": 5, "other": 3}
    assert pooled({"gas": 1}) == {"other": "<3"}
    assert pooled({}) == {}


def test_the_public_summary_needs_three_of_everything() -> None:
    def resolved(n: int, stars: list[int]) -> Outcome:
        c = case(n, category="lighting", due=60 * M)
        return outcome(c, moves(c, (n, "acknowledged", None), (10 * n, "resolved", "x")), stars=stars)

    two = public_summary([resolved(1, [5]), resolved(2, [1])], T0, END)
    assert (two.cases, two.by_category, two.ratings, two.average_rating) == (
        "<3",
        {"other": "<3"},
        "<3",
        None,
    )
    assert (two.median_minutes_to_acknowledge, two.closure_rate, two.on_time_rate) == (None, None, None)
    three = public_summary([resolved(1, [5]), resolved(2, [1]), resolved(3, [4])], T0, END)
    assert (three.cases, three.by_category, three.by_status) == (3, {"lighting": 3}, {"resolved": 3})
    assert (three.ratings, three.average_rating) == (3, 3.3)
    assert (three.median_minutes_to_acknowledge, three.median_minutes_to_resolve) == (2.0, 20.0)
    assert (three.on_time_rate, three.closure_rate) == (1.0, 0.0)
