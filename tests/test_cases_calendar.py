"""Working-calendar arithmetic (pure): adding working hours and days, working time between two instants,
weekends, holidays, make-up working days, lunch breaks, crossing midnight, a zone without daylight saving
time (Asia/Shanghai) and one with it; limits as configured; deadlines after a suspension. Then alert-raised
cases on the real database: their deadlines follow the SLA table's working time too."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.cases import intake
from hub.cases.calendar import CalendarError, Limit, WorkCalendar, parse_limit
from hub.cases.config import DispatchConfig
from hub.cases.sla import SlaRule, SlaState, alert_deadlines, deadlines_for, next_escalation, resumed_deadline
from hub.domain.alerts import AlertOpened
from hub.domain.cases import CaseStatus, Level
from hub.domain.devices import DeviceKind
from hub.engine.schema import Rule
from hub.store import cases as case_store
from tests.support.factories import community, device, threshold_rule

SH = ZoneInfo("Asia/Shanghai")
H = 3600.0
# 2026: National Day holidays Thursday 1 October to Wednesday 7 October (3 and 4 are a weekend anyway),
# with Saturday 10 October worked instead.
CAL = WorkCalendar(
    holidays=[date(2026, 10, d) for d in (1, 2, 5, 6, 7)],
    makeup_workdays=[date(2026, 10, 10)],
)


def sh(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


# Monday 23 November 2026 … Sunday 29 November 2026.
MON, TUE, WED, FRI, SAT = 23, 24, 25, 27, 28  # MON + 7 is Monday 30 November


def test_the_default_calendar_is_monday_to_friday_nine_to_six_in_shanghai() -> None:
    c = WorkCalendar()
    assert (c.timezone, c.workdays, c.hours, c.day_seconds) == (
        "Asia/Shanghai",
        ["mon", "tue", "wed", "thu", "fri"],
        ["09:00-18:00"],
        9 * H,
    )


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (sh(11, MON, 10), 2, sh(11, MON, 12)),  # inside one day
        (sh(11, MON, 17), 3, sh(11, TUE, 11)),  # crosses midnight: 1 h today, 2 h tomorrow
        (sh(11, MON, 18), 1, sh(11, TUE, 10)),  # at closing time nothing is left today
        (sh(11, MON, 7, 30), 1, sh(11, MON, 10)),  # before opening: counting starts at 09:00
        (sh(11, MON, 23, 59), 0.5, sh(11, TUE, 9, 30)),  # just before midnight
        (sh(11, FRI, 17), 3, sh(11, MON + 7, 11)),  # Friday evening → Monday, the weekend skipped
        (sh(11, SAT, 12), 1, sh(11, MON + 7, 10)),  # asked on a Saturday
        (sh(11, MON, 10), 9, sh(11, TUE, 10)),  # exactly one working day
        (sh(11, MON, 9), 45, sh(11, FRI, 18)),  # a whole working week ends on Friday at six
    ],
)
def test_adding_working_hours(start: datetime, hours: float, due: datetime) -> None:
    assert CAL.add(start, hours * H) == due


def test_working_days_are_whole_working_days_of_hours() -> None:
    two_days = parse_limit("2wd")
    assert isinstance(two_days, Limit)
    assert CAL.add_limit(sh(11, MON, 10), two_days) == sh(11, WED, 10)
    assert CAL.add_limit(sh(11, MON, 20), parse_limit("1wd")) == sh(11, TUE, 18)  # type: ignore[arg-type]
    assert CAL.add_limit(sh(11, FRI, 15), parse_limit("1wd")) == sh(11, MON + 7, 15)  # type: ignore[arg-type]


def test_holidays_do_not_count_and_make_up_days_do() -> None:
    # Wednesday 30 September 17:00 + 2 working hours: 1 h that day, then nothing until Thursday 8
    # October (holidays 1-2 and 5-7, weekend 3-4).
    assert CAL.add(sh(9, 30, 17), 2 * H) == sh(10, 8, 10)
    # Friday 9 October 17:00 + 2 h: Saturday 10 October is a make-up working day.
    assert CAL.add(sh(10, 9, 17), 2 * H) == sh(10, 10, 10)
    without_makeup = WorkCalendar(holidays=CAL.holidays)
    assert without_makeup.add(sh(10, 9, 17), 2 * H) == sh(10, 12, 10)
    # one working day from the day before the holidays lands after them
    assert CAL.add_limit(sh(9, 30, 11), parse_limit("1wd")) == sh(10, 8, 11)  # type: ignore[arg-type]
    assert CAL.is_working_day(date(2026, 10, 10)) and not CAL.is_working_day(date(2026, 10, 1))
    assert not CAL.is_working_day(date(2026, 10, 3)), "an ordinary weekend day stays off"


@pytest.mark.parametrize(
    ("a", "b", "hours"),
    [
        (sh(11, MON, 10), sh(11, MON, 12), 2),
        (sh(11, MON, 17), sh(11, TUE, 10), 2),  # across midnight
        (sh(11, MON, 20), sh(11, TUE, 8), 0),  # the whole night is off
        (sh(11, FRI, 17), sh(11, MON + 7, 10), 2),  # the weekend is off
        (sh(11, SAT, 0), sh(11, SAT + 1, 23), 0),
        (sh(11, MON, 0), sh(11, MON + 7, 0), 45),  # a whole week
        (sh(9, 30, 9), sh(10, 9, 18), 27),  # 30 Sep, 8 Oct and 9 Oct: the holidays are off
        (sh(10, 10, 8), sh(10, 10, 20), 9),  # the make-up Saturday is a full working day
        (sh(11, MON, 12), sh(11, MON, 10), 0),  # reversed
    ],
)
def test_working_time_between_two_instants(a: datetime, b: datetime, hours: float) -> None:
    assert CAL.between(a, b) == hours * H


def test_a_lunch_break_is_not_working_time() -> None:
    c = WorkCalendar(hours=["09:00-12:00", "13:00-18:00"])
    assert c.day_seconds == 8 * H
    assert c.add(sh(11, MON, 11, 30), 1 * H) == sh(11, MON, 13, 30)
    assert c.between(sh(11, MON, 11), sh(11, MON, 14)) == 2 * H
    assert c.add_limit(sh(11, MON, 10), parse_limit("1wd")) == sh(11, TUE, 10)  # type: ignore[arg-type]


def test_shanghai_has_no_daylight_saving_time_and_instants_stay_instants() -> None:
    """Asia/Shanghai is UTC+8 all year, so a working day is 09:00-18:00 local = 01:00-10:00 UTC in
    January and in July alike; inputs in any zone give the same instant back, in the input's zone."""
    for month in (1, 3, 7, 10, 11):
        assert sh(month, 5, 12).utcoffset() == timedelta(hours=8)
    start_utc = datetime(2026, 7, 6, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    due = CAL.add(start_utc, 3 * H)
    assert due == datetime(2026, 7, 6, 4, 0, tzinfo=UTC) and due.tzinfo is UTC
    assert (
        CAL.between(datetime(2026, 1, 5, 0, 0, tzinfo=UTC), datetime(2026, 1, 5, 12, 0, tzinfo=UTC)) == 9 * H
    )


def test_a_zone_with_daylight_saving_time_counts_local_hours() -> None:
    """Berlin moves its clocks on Sunday 29 March 2026: working hours stay 09:00-18:00 local."""
    berlin = WorkCalendar(timezone="Europe/Berlin")
    be = ZoneInfo("Europe/Berlin")
    friday = datetime(2026, 3, 27, 17, 0, tzinfo=be)
    assert berlin.add(friday, 2 * H) == datetime(2026, 3, 30, 10, 0, tzinfo=be)
    assert berlin.between(friday, datetime(2026, 3, 30, 10, 0, tzinfo=be)) == 2 * H


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(SH)),
    seconds=st.integers(min_value=1, max_value=400 * 3600),
)
def test_adding_then_measuring_gives_the_same_working_time(start: datetime, seconds: int) -> None:
    due = CAL.add(start, seconds)
    assert due > start
    assert CAL.between(start, due) == pytest.approx(seconds, abs=1e-6)
    local = due.astimezone(SH)
    assert CAL.is_working_day(local.date()) and 9 <= local.hour + local.minute / 60 <= 18


def test_naive_times_and_calendars_without_working_time_are_refused() -> None:
    with pytest.raises(CalendarError, match="no time zone"):
        CAL.add(datetime(2026, 11, 23, 10), H)
    never = WorkCalendar(workdays=[])
    with pytest.raises(CalendarError, match="no 3600 s of working time"):
        never.add(sh(11, MON, 10), H)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"hours": ["18:00-09:00"]}, "must end after they start"),
        ({"hours": ["09:00-13:00", "12:00-18:00"]}, "must not overlap"),
        ({"hours": ["9 to 5"]}, "must look like 09:00-18:00"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"workdays": ["monday"]}, "workdays"),
        ({"holidays": ["2026-10-10"], "makeup_workdays": ["2026-10-10"]}, "both as a holiday"),
    ],
)
def test_a_bad_calendar_is_refused(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DispatchConfig.model_validate({"calendar": body})


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("30m", Limit(1800.0)),
        (3600, Limit(3600.0)),
        ("4wh", Limit(4 * H, "working", "wh", 4.0)),
        ("2wd", Limit(0.0, "working", "wd", 2.0)),
        ("1.5 wh", Limit(1.5 * H, "working", "wh", 1.5)),
    ],
)
def test_limits_are_plain_or_working_time(text: object, limit: Limit) -> None:
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["soon", "2 weeks", "0wd", "400wd", "-5", True])
def test_bad_limits_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"limit|duration"):
        parse_limit(text)


def test_sla_rules_mix_plain_and_working_limits() -> None:
    rules = [
        SlaRule.model_validate({"category": "fire", "ack_within": "5m", "resolve_within": "2h"}),
        SlaRule.model_validate({"ack_within": "2wh", "resolve_within": "2wd"}),
    ]
    fire = deadlines_for(rules, "fire", "critical", sh(11, FRI, 17, 30), CAL)
    assert (fire.ack_due_at, fire.resolve_due_at) == (sh(11, FRI, 17, 35), sh(11, FRI, 19, 30))
    assert (fire.ack_clock, fire.resolve_clock) == ("calendar", "calendar")
    bench = deadlines_for(rules, "other", "minor", sh(11, FRI, 17, 30), CAL)
    assert (bench.ack_due_at, bench.resolve_due_at) == (sh(11, MON + 7, 10, 30), sh(12, 1, 17, 30))
    assert (bench.ack_clock, bench.resolve_clock) == ("working", "working")


def test_a_resumed_deadline_gets_back_the_time_it_had_left_on_its_own_clock() -> None:
    # wall clock: due at 12:00, suspended at 11:00 (1 h left), resumed at 15:00 → due 16:00
    assert resumed_deadline(CAL, "calendar", sh(11, MON, 12), sh(11, MON, 11), sh(11, MON, 15)) == sh(
        11, MON, 16
    )
    # working time: due Monday 11:00, suspended Friday 17:00 (3 working hours left: Friday 17-18 and
    # Monday 9-11), resumed Monday 10:00 → due Monday 13:00
    assert resumed_deadline(CAL, "working", sh(11, MON + 7, 11), sh(11, FRI, 17), sh(11, MON + 7, 10)) == sh(
        11, MON + 7, 13
    )
    # already missed when suspended: it stays where it was
    assert resumed_deadline(CAL, "calendar", sh(11, MON, 10), sh(11, MON, 11), sh(11, MON, 15)) == sh(
        11, MON, 10
    )


def test_a_suspended_case_never_escalates() -> None:
    s = SlaState(
        status=CaseStatus.DISPATCHED,
        level=Level.TEAM,
        ack_due_at=sh(11, MON, 10),
        resolve_due_at=sh(11, MON, 12),
        acknowledged_at=None,
        ack_escalated_at=None,
        resolve_escalated_at=None,
        suspended=True,
    )
    assert next_escalation(s, sh(11, FRI, 12)) is None


# -- alert-raised cases -------------------------------------------------------------------------------------

ALERT_SLA = [
    SlaRule.model_validate({"severity": "critical", "ack_within": "5m", "resolve_within": "2h"}),
    SlaRule.model_validate({"ack_within": "2wh", "resolve_within": "2wd"}),
]


def test_an_alert_case_takes_the_tables_working_time_and_the_shorter_plain_limit() -> None:
    friday = sh(11, FRI, 17, 30)
    lamp = alert_deadlines(ALERT_SLA, "lighting", "minor", friday, (900.0, 86400.0), CAL)
    assert (lamp.ack_due_at, lamp.resolve_due_at) == (sh(11, MON + 7, 10, 30), sh(12, 1, 17, 30))
    assert (lamp.ack_clock, lamp.resolve_clock) == ("working", "working")
    strict = alert_deadlines(ALERT_SLA, "fire", "critical", friday, (120.0, 1800.0), CAL)
    assert (strict.ack_due_at, strict.resolve_due_at) == (sh(11, FRI, 17, 32), sh(11, FRI, 18))
    lax = alert_deadlines(ALERT_SLA, "fire", "critical", friday, (3600.0, 86400.0), CAL)
    assert (lax.ack_due_at, lax.resolve_due_at) == (sh(11, FRI, 17, 35), sh(11, FRI, 19, 30))
    assert (lax.ack_clock, lax.resolve_clock) == ("calendar", "calendar")


def alert_rule(rule_id: str, severity: str, category: str) -> Rule:
    return threshold_rule(
        rule_id,
        kinds=["manhole"],
        severity=severity,
        category=category,
        when="ch4_pct_lel > 10",
        team="night-shift",
        ack_within="15m",
        resolve_within="1d",
    )


def alert_case(conn: psycopg.Connection[Any], cfg: DispatchConfig, r: Rule, at: datetime) -> dict[str, Any]:
    d = device(conn, community(conn, "ca"), "mh1", DeviceKind.MANHOLE)
    case_id = intake.open_alert_case(conn, AlertOpened(r, d, d.id, at, at, {"readings": []}), cfg, at)
    assert case_id is not None
    case = case_store.get_case(conn, case_id)
    assert case is not None
    return case


def test_an_alert_case_opened_on_friday_evening_is_due_on_monday_and_a_holiday_does_not_count(
    conn: psycopg.Connection[Any],
) -> None:
    friday = sh(11, FRI, 17, 30)
    cfg = DispatchConfig(default_team="ca-desk", sla=ALERT_SLA, calendar=CAL)
    lamp = alert_case(conn, cfg, alert_rule("ca-dark", "minor", "lighting"), friday)
    # 30 working minutes on Friday, then 1.5 h on Monday; two working days end on Tuesday at 17:30
    assert (lamp["ack_due_at"], lamp["resolve_due_at"]) == (sh(11, MON + 7, 10, 30), sh(12, 1, 17, 30))
    assert (lamp["ack_clock"], lamp["resolve_clock"]) == ("working", "working")

    monday_off = cfg.model_copy(update={"calendar": WorkCalendar(holidays=[date(2026, 11, MON + 7)])})
    bridged = alert_case(conn, monday_off, alert_rule("ca-dark2", "minor", "lighting"), friday)
    assert (bridged["ack_due_at"], bridged["resolve_due_at"]) == (sh(12, 1, 10, 30), sh(12, 2, 17, 30))

    # an emergency runs round the clock: the table's 5 min and 2 h are shorter than the rule's 15 min and 1 d
    gas = alert_case(conn, cfg, alert_rule("ca-gas", "critical", "gas"), friday)
    assert (gas["ack_due_at"], gas["resolve_due_at"]) == (sh(11, FRI, 17, 35), sh(11, FRI, 19, 30))
    assert (gas["ack_clock"], gas["resolve_clock"]) == ("calendar", "calendar")
