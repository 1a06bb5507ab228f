"""The periods the case KPIs count over. A report month and the public summary's days are whole days
of the working calendar's time zone, so a case opened at 01:00 local time on the 1st belongs to that
month even while it is still the previous day in UTC; the public summary's days run up to now. Pure: the caller passes the zone and today."""

from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

from hub.domain.errors import Invalid

MAX_RANGE = timedelta(days=400)
"""The longest free range of the live view: one query loads the whole cohort into memory."""
FIRST_YEAR, LAST_YEAR = 1970, 9000


def bounded(start: datetime, end: datetime) -> None:
    if end - start > MAX_RANGE:
        raise Invalid(f"the period is longer than {MAX_RANGE.days} days")


def month(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """`YYYY-MM` (the route checks the pattern) as `[first midnight, next month's first midnight)`."""
    year, number = int(text[:4]), int(text[5:7])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(f"`month` must lie between {FIRST_YEAR} and {LAST_YEAR}")
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return _midnight(first, zone), _midnight(following, zone)


def days_until(now: datetime, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The last `days` calendar days in `zone`, today included up to `now`: a resident who reported
    something this morning finds it counted."""
    start = _midnight(now.astimezone(zone).date() - timedelta(days=days - 1), zone)
    return start, now


def recent(
    today: date, interval: Literal["week", "month"], count: int, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The last `count` weeks (Monday to Monday) or calendar months, oldest first; the last one is the
    running week or month, which holds today."""
    if interval == "week":
        monday = today - timedelta(days=today.weekday())
        firsts = [monday - timedelta(weeks=n) for n in range(count - 1, -2, -1)]
    else:
        index = today.year * 12 + today.month - 1
        firsts = [date((index - n) // 12, (index - n) % 12 + 1, 1) for n in range(count - 1, -2, -1)]
    edges = [_midnight(d, zone) for d in firsts]
    return list(pairwise(edges))


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=zone)
