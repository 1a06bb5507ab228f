"""Parameters shared by routes: times in UTC, ranges in order, keyset cursors, the names of users and
communities, the reader's language and the Idempotency-Key of a request that may be retried."""

import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Path, Query
from pydantic import StringConstraints

from hub.domain.errors import Invalid
from hub.domain.language import Lang, preferred
from hub.services.idempotency import MAX_KEY_CHARS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?\d{1,18})\.(-?\d{1,19})")
_OUT_OF_RANGE = "`from` and `to` must lie between the years 1 and 9999 in UTC"
BIGINT_MAX = 2**63 - 1
UsernamePath = Annotated[str, Path(min_length=1, max_length=100)]
CommunityId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
"""a display name (of a team, community, grid or building)"""
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_CHARS,
        description="a key of your own per request (a UUID): a retry with it returns the first answer",
    ),
]


def encode_cursor(time: datetime, key: int) -> str:
    """The last row's (time, key) as `<microseconds since 1970>.<key>`: exact, and safe in a URL."""
    return f"{(time - _EPOCH) // timedelta(microseconds=1)}.{key}"


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    if text is None:
        return None
    found = _CURSOR.fullmatch(text)
    if found is not None and abs(int(found[2])) <= BIGINT_MAX:
        with suppress(OverflowError):  # a time past the year 9999
            return _EPOCH + timedelta(microseconds=int(found[1])), int(found[2])
    raise Invalid("`cursor` is not one this API gave out; pass `next_cursor` of the previous page unchanged")


def utc(t: datetime) -> datetime:
    """No offset means UTC; a time that leaves Python's years 1 to 9999 once in UTC is the caller's error."""
    try:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except OverflowError:
        raise Invalid(_OUT_OF_RANGE) from None


def before(t: datetime, span: timedelta) -> datetime:
    """A default start `span` before `t`; one before the year 1 is the caller's error, like `utc`'s."""
    try:
        return t - span
    except OverflowError:
        raise Invalid(_OUT_OF_RANGE) from None


def ordered(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise Invalid("`to` must be later than `from`")


def time_range(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    """`[from, to)` in UTC and in order: `to` defaults to now and `from` to `default` before `to`."""
    until = utc(end) if end is not None else datetime.now(UTC)
    try:
        since = utc(start) if start is not None else until - default
    except OverflowError:  # a default `from` before the year 1
        raise Invalid(_OUT_OF_RANGE) from None
    ordered(since, until)
    return since, until


def language(
    lang: Lang | None = Query(
        default=None, description="`zh` or `en`; default: `zh` when Accept-Language starts with zh, else `en`"
    ),
    accept_language: str | None = Header(default=None),
) -> Lang:
    """The language a page for people is written in: the one asked for, else the browser's."""
    return lang or preferred(accept_language)


Language = Annotated[Lang, Depends(language)]
