"""Working-time arithmetic for SLA limits. Pure: a calendar is configuration, times are arguments.

A working calendar is a set of working intervals per working day, in one time zone: the weekdays that
are working days, minus holidays, plus make-up working days (a Saturday or Sunday worked in exchange for
a bridged holiday). Everything is computed in local time, day by day, then compared as aware instants,
so a zone with daylight saving time works too (the shipped zone, Asia/Shanghai, has none).

Two operations: `add` — the instant N working seconds after `start` — and `between` — the working
seconds inside [a, b). A working day (`wd`) is the length of one working day's intervals, so
"2 working days" from Monday 10:00 is Wednesday 10:00 when every working day has the same hours.
"""

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hub.domain.zones import TimeZoneName
from hub.engine.schema import _parse_duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Clock = Literal["calendar", "working"]
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WORKING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(wh|wd)\s*$")
# Far enough for any SLA; a calendar with no working time at all would otherwise loop for ever.
_MAX_DAYS = 5 * 366


class CalendarError(ValueError):
    pass


def _interval(text: str) -> tuple[time, time]:
    m = _INTERVAL.match(text)
    if not m:
        raise ValueError(f"working hours {text!r} must look like 09:00-18:00")
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    if h0 > 23 or m0 > 59 or h1 > 24 or m1 > 59 or (h1 == 24 and m1 != 0):
        raise ValueError(f"working hours {text!r} are not times of day")
    start = time(h0, m0)
    end = time.max if h1 == 24 else time(h1, m1)
    if end <= start:
        raise ValueError(
            f"working hours {text!r} must end after they start (split a night shift at midnight)"
        )
    return start, end


class WorkCalendar(BaseModel):
    """`config/routing.yaml` → `calendar`. Defaults: Monday to Friday, 09:00–18:00, Asia/Shanghai."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "Asia/Shanghai"
    workdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: list[str] = Field(default_factory=lambda: ["09:00-18:00"], min_length=1)
    holidays: list[date] = Field(default_factory=list, description="days off even on a working weekday")
    makeup_workdays: list[date] = Field(
        default_factory=list, description="days worked even though they fall on a day off"
    )

    @field_validator("hours")
    @classmethod
    def _ordered_intervals(cls, v: list[str]) -> list[str]:
        spans = [_interval(h) for h in v]
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise ValueError("working hours must be in order and must not overlap")
        return v

    @model_validator(mode="after")
    def _disjoint_days(self) -> "WorkCalendar":
        both = sorted(set(self.holidays) & set(self.makeup_workdays))
        if both:
            raise ValueError(
                f"{both[0].isoformat()} is listed both as a holiday and as a make-up working day"
            )
        return self

    # -- derived ------------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def spans(self) -> list[tuple[time, time]]:
        return [_interval(h) for h in self.hours]

    @property
    def day_seconds(self) -> float:
        """Working seconds in one working day."""
        return sum(_seconds_of_day(e) - _seconds_of_day(s) for s, e in self.spans)

    def is_working_day(self, d: date) -> bool:
        if d in self.makeup_workdays:
            return True
        if d in self.holidays:
            return False
        return WEEKDAYS[d.weekday()] in self.workdays

    def _intervals(self, d: date) -> Iterator[tuple[datetime, datetime]]:
        if not self.is_working_day(d):
            return
        zone = self.zone
        for s, e in self.spans:
            yield (
                _at(d, s, zone),
                (_at(d + timedelta(days=1), time(0), zone) if e == time.max else _at(d, e, zone)),
            )

    # -- arithmetic ---------------------------------------------------------------------------------

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` of working time after `start`. A start outside working hours begins
        counting at the next working instant; 0 seconds returns `start` unchanged."""
        _aware(start)
        if seconds <= 0:
            return start
        remaining = timedelta(seconds=seconds)
        day = start.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS):
            for s, e in self._intervals(day):
                if start >= e:
                    continue
                begin = max(start, s)
                available = e - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
            day += timedelta(days=1)
        raise CalendarError(
            f"no {seconds:g} s of working time within {_MAX_DAYS} days of {start.isoformat()}"
        )

    def between(self, a: datetime, b: datetime) -> float:
        """Working seconds in [a, b); 0 when b is not after a."""
        _aware(a)
        _aware(b)
        if b <= a:
            return 0.0
        total = timedelta()
        day, last = a.astimezone(self.zone).date(), b.astimezone(self.zone).date()
        if (last - day).days > _MAX_DAYS * 10:
            raise CalendarError("the span is too long to count working time over")
        while day <= last:
            for s, e in self._intervals(day):
                lo, hi = max(a, s), min(b, e)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds()

    def add_limit(self, start: datetime, limit: "Limit") -> datetime:
        if limit.clock == "working":
            return self.add(start, limit.working_seconds(self))
        return start + timedelta(seconds=limit.seconds)

    def remaining(self, clock: Clock, since: datetime, due: datetime) -> float:
        """Time left at `since` until `due`, on the deadline's clock (0 when it has passed)."""
        if due <= since:
            return 0.0
        return self.between(since, due) if clock == "working" else (due - since).total_seconds()

    def after(self, clock: Clock, start: datetime, seconds: float) -> datetime:
        return self.add(start, seconds) if clock == "working" else start + timedelta(seconds=seconds)


def _at(d: date, t: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, t, tzinfo=zone)


def _seconds_of_day(t: time) -> float:
    """`time.max` stands for 24:00, the end of the day."""
    return 86400.0 if t == time.max else t.hour * 3600.0 + t.minute * 60.0 + t.second


def _aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise CalendarError(f"{t.isoformat()} has no time zone")


@dataclass(frozen=True)
class Limit:
    """A time limit as configured: plain (`30m`, `2h`, `1d`: wall-clock time) or working time
    (`4wh`: working hours, `2wd`: working days, counted on the calendar)."""

    seconds: float
    clock: Clock = "calendar"
    unit: Literal["s", "wh", "wd"] = "s"
    amount: float = 0.0

    def working_seconds(self, calendar: WorkCalendar) -> float:
        if self.unit == "wd":
            return self.amount * calendar.day_seconds
        return self.seconds

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}" if self.clock == "working" else f"{self.seconds:g}s"


def parse_limit(value: object) -> object:
    if isinstance(value, Limit):
        return value
    if isinstance(value, str):
        m = _WORKING.match(value)
        if m:
            amount = float(m.group(1))
            if amount <= 0 or amount > 366:
                raise ValueError(f"limit {value!r} must be more than 0 and at most 366 working days or hours")
            unit = m.group(2)
            seconds = amount * 3600.0 if unit == "wh" else 0.0
            return Limit(seconds, "working", "wh" if unit == "wh" else "wd", amount)
        value = _parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 or value > 366 * 86400:
            raise ValueError("a limit must be between 0 and 366 days")
        return Limit(float(value))
    raise ValueError(f"limit {value!r} must look like 30m, 2h, 1d (plain time) or 4wh, 2wd (working time)")


LimitField = Annotated[Limit, BeforeValidator(parse_limit)]
