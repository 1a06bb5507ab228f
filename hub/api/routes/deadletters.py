"""Refused messages ("why is my device's data refused?"): the dead letters with their reason code,
origin and stored payload prefix, and their counts per reason over time. A payload may hold personal
data (a gate's person reference), so reads are for admins (every community) and managers (theirs) and
each page read is audited."""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, require
from hub.api.params import decode_cursor, encode_cursor, ordered, time_range, utc
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import deadletters as dead_letter_service

router = APIRouter(tags=["dead letters"])
Reader = Annotated[User, Depends(require(Role.ADMIN, Role.MANAGER))]
SUMMARY_RANGE = timedelta(hours=24)

_FILTERS = {
    "device": Query(default=None, max_length=200, description="device id, as the topic names it"),
    "community": Query(default=None, max_length=100, description="community, as the topic names it"),
    "code": Query(
        default=None, max_length=50, description="reason code, e.g. unregistered, invalid, decommissioned"
    ),
}


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime = Field(description="hub time the broker handed it over")
    topic: str
    client_id: str | None = Field(description="the MQTT client id it came from, when known")
    reason: str = Field(description="why it was refused, in English")
    code: str = Field(description="the reason's leading word: unregistered, invalid, rate_limited …")
    community_id: str | None = Field(description="from the topic; null when the topic has another shape")
    kind: str | None = Field(description="from the topic")
    device_id: str | None = Field(
        description="from the topic; for a message an adapter mapped, the device it mapped to"
    )
    adapter: str | None = Field(default=None, description="the adapter that mapped or refused it")
    step: str | None = Field(
        default=None,
        description="where an adapted message was refused: source, device, field, contract, rate_limit",
    )
    registered: bool = Field(description="whether a device of that id is registered now")
    payload_size: int = Field(description="bytes received")
    payload_hex: str = Field(description="the stored prefix of the payload, hex bytes")
    payload_text: str | None = Field(description="the same prefix as text, when it is printable UTF-8")


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    responses={403: {"description": "admins and managers only"}, 422: {"description": "bad range or cursor"}},
)
def list_dead_letters(
    audit: Annotated[Audit, audited("dead_letters.read", "device")],
    conn: Conn,
    user: Reader,
    device: str | None = _FILTERS["device"],
    community: str | None = _FILTERS["community"],
    code: str | None = _FILTERS["code"],
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601, inclusive; without an offset it is UTC"
    ),
    to: datetime | None = Query(default=None, description="ISO 8601, exclusive; without an offset it is UTC"),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=50, description="`next_cursor` of the previous page"),
) -> DeadLetterPage:
    """Refused messages of the caller's communities, newest first (a manager sees those whose topic
    names one of their communities)."""
    since = utc(from_) if from_ is not None else None
    until = utc(to) if to is not None else None
    ordered(since, until)
    audit.target_id, audit.community = device, community
    filters = dead_letter_service.Filters(None, device, community, code, since, until)
    rows = dead_letter_service.page(conn, user, filters, after=decode_cursor(cursor), limit=limit + 1)
    audit.details.update({"code": code, "rows": min(len(rows), limit)})
    last = rows[limit - 1] if len(rows) > limit else None
    return DeadLetterPage(
        dead_letters=[DeadLetterOut.model_validate(r) for r in rows[:limit]],
        next_cursor=None if last is None else encode_cursor(last["received_at"], last["id"]),
    )


class BucketOut(BaseModel):
    start: datetime
    code: str
    count: int


class DeadLetterSummary(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from")
    to: datetime
    bucket: Literal["hour", "day"]
    buckets: list[BucketOut] = Field(
        description="refusals per bucket start (UTC) and reason code, in time order"
    )
    totals: dict[str, int] = Field(description="reason code → refusals over the range")


@router.get(
    "/dead-letters/summary",
    response_model=DeadLetterSummary,
    responses={403: {"description": "admins and managers only"}, 422: {"description": "bad range"}},
)
def summarize_dead_letters(
    conn: Conn,
    user: Reader,
    device: str | None = _FILTERS["device"],
    community: str | None = _FILTERS["community"],
    code: str | None = _FILTERS["code"],
    from_: datetime | None = Query(default=None, alias="from", description="Default: `to` − 24 h"),
    to: datetime | None = Query(default=None, description="Default: now"),
    bucket: Literal["hour", "day"] = "hour",
) -> DeadLetterSummary:
    """Counts per reason code and hour (or day) over a range of at most 2,232 buckets (93 days of
    hours)."""
    since, until = time_range(from_, to, SUMMARY_RANGE)
    filters = dead_letter_service.Filters(None, device, community, code)
    found = dead_letter_service.summary(conn, user, filters, bucket, since=since, until=until)
    return DeadLetterSummary.model_validate({"from": since, "to": until, "bucket": bucket, **found})
