"""The periods the case KPIs count over. A report month and the public summary's days are whole days
of the working calendar's time zone, so a case opened at 01:00 local time on the 1st belongs to that
month even while it is still the previous day in UTC. Pure: the caller passes the zone and today."""

from datetime import date, datetime, time, timedelta
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


def days_before(today: date, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The whole days before today: ending at today's midnight, the figures change once a day."""
    return _midnight(today - timedelta(days=days), zone), _midnight(today, zone)


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=zone)
