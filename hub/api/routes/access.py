"""A gate's access events: personal data (pseudonymized at ingest), so only the people who handle
incidents may read them, managers only in their own communities, and every read — allowed or
refused — leaves an audit row with the time range and the number of rows handed out. The events may be
read on a standby (`HUB_DATABASE_READ_URL`); the audit row is always written on the primary."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, ReadConn, require
from hub.api.params import decode_cursor, encode_cursor, ordered, utc
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import access as access_service

router = APIRouter(tags=["access"])

DEFAULT_RANGE = timedelta(hours=24)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class AccessEventOut(BaseModel):
    time: datetime = Field(description="device time of the event")
    result: Literal["granted", "denied"]
    method: Literal["card", "face", "qr", "pin"]
    direction: Literal["in", "out"]
    person_pseudonym: str | None = Field(
        description="keyed HMAC of the gate's person reference; the raw identity is never stored"
    )


class AccessEvents(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    device_id: str
    community_id: str
    from_: datetime = Field(alias="from", description="start of the range, inclusive")
    to: datetime = Field(description="end of the range, exclusive")
    events: list[AccessEventOut] = Field(description="newest first; devices other than gates have none")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@router.get(
    "/devices/{device_id}/access-events",
    response_model=AccessEvents,
    responses={
        403: {"description": "residents and integrations may not read access events"},
        404: {"description": "no such device in the caller's communities"},
        422: {"description": "bad range, result or cursor"},
    },
)
def read_access_events(
    device_id: str,
    audit: Annotated[Audit, audited("access_events.read", "device", "device_id")],
    conn: Conn,
    reads: ReadConn,
    user: Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.MANAGER))],
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601; without an offset it is UTC. Default: `to` − 24 h"
    ),
    to: datetime | None = Query(
        default=None, description="ISO 8601; without an offset it is UTC. Default: now"
    ),
    result: Literal["granted", "denied"] | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=50, description="`next_cursor` of the previous page"),
) -> AccessEvents:
    """Who came and went through a gate, as pseudonyms, newest first."""
    end = utc(to) if to is not None else datetime.now(UTC)
    # a default `from` stops at year 1 rather than overflowing
    start = utc(from_) if from_ is not None else end - min(DEFAULT_RANGE, end - _EARLIEST)
    ordered(start, end)
    audit.details.update({"from": start.isoformat(), "to": end.isoformat(), "result": result})
    found = access_service.page(
        conn,
        reads,
        user,
        device_id,
        start=start,
        end=end,
        result=result,
        after=decode_cursor(cursor),
        limit=limit,
    )
    audit.details["rows"] = len(found.events)
    return AccessEvents.model_validate(
        {
            "device_id": device_id,
            "community_id": found.community_id,
            "from": start,
            "to": end,
            "events": found.events,
            "next_cursor": None if found.next_after is None else encode_cursor(*found.next_after),
        }
    )
