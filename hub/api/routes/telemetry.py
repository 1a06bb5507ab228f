from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Conn, CurrentUser, ReadConn
from hub.api.params import before, ordered, utc
from hub.domain.devices import DeviceKind
from hub.domain.history import Bucket
from hub.services import telemetry as telemetry_service

router = APIRouter(tags=["telemetry"])

DEFAULT_RANGE = timedelta(hours=24)


class Aggregate(BaseModel):
    n: int = Field(description="readings of this metric in the bucket")
    avg: float = Field(description="mean; for a boolean metric the fraction of readings that were true")
    min: float = Field(description="smallest reading; booleans as 0/1")
    max: float = Field(description="largest reading; booleans as 0/1")


class Point(BaseModel):
    """`t` plus one key per requested metric: the reading itself for raw data, an Aggregate for a
    bucket, or null when the device sent no value for it (optional sensors)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, bool | int | float | Aggregate | None] = Field(init=False)

    t: datetime = Field(description="device time of the reading, or the start of the bucket")


class History(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    device_id: str
    kind: DeviceKind
    bucket: Bucket = Field(description="the bucket used, also when it was chosen automatically")
    from_: datetime = Field(alias="from", description="start of the range, inclusive")
    to: datetime = Field(description="end of the range, exclusive")
    metrics: list[str]
    points: list[Point] = Field(description="oldest first; empty buckets are left out")


_RAW_EXAMPLE = {
    "device_id": "sunrise-b1-sd01",
    "kind": "smoke_detector",
    "bucket": "raw",
    "from": "2026-11-28T11:00:00Z",
    "to": "2026-11-28T12:00:00Z",
    "metrics": ["temperature_c", "alarm"],
    "points": [
        {"t": "2026-11-28T11:00:12Z", "temperature_c": 21.4, "alarm": False},
        {"t": "2026-11-28T11:00:42Z", "temperature_c": 21.5, "alarm": False},
    ],
}
_BUCKET_EXAMPLE = {
    **_RAW_EXAMPLE,
    "bucket": "1h",
    "from": "2026-11-27T12:00:00Z",
    "to": "2026-11-28T12:00:00Z",
    "points": [
        {
            "t": "2026-11-27T12:00:00Z",
            "temperature_c": {"n": 120, "avg": 21.43, "min": 21.1, "max": 22.0},
            "alarm": {"n": 120, "avg": 0.0, "min": 0.0, "max": 0.0},
        },
        {
            "t": "2026-11-27T13:00:00Z",
            "temperature_c": {"n": 118, "avg": 24.9, "min": 21.2, "max": 61.5},
            "alarm": {"n": 118, "avg": 0.25, "min": 0.0, "max": 1.0},
        },
    ],
}


@router.get(
    "/devices/{device_id}/telemetry",
    response_model=History,
    responses={
        200: {
            "content": {
                "application/json": {
                    "examples": {
                        "raw": {"summary": "raw readings (ranges up to 2 h)", "value": _RAW_EXAMPLE},
                        "hourly": {
                            "summary": "hourly buckets (ranges up to 60 days)",
                            "value": _BUCKET_EXAMPLE,
                        },
                    }
                }
            }
        },
        404: {"description": "no such device in the caller's communities"},
        422: {"description": "bad range, unknown metric, or more than 20000 points"},
    },
)
def get_telemetry(
    device_id: str,
    conn: Conn,
    reads: ReadConn,
    user: CurrentUser,
    from_: datetime | None = Query(
        default=None, alias="from", description="ISO 8601; without an offset it is UTC. Default: `to` − 24 h"
    ),
    to: datetime | None = Query(
        default=None, description="ISO 8601; without an offset it is UTC. Default: now"
    ),
    bucket: Bucket | None = Query(
        default=None,
        description="raw, 1m, 1h or 1d; omitted: raw up to 2 h, 1m up to 2 days, 1h up to 60 days, else 1d",
    ),
    metrics: str | None = Query(
        default=None,
        description="comma-separated numeric or boolean telemetry fields of the device's kind; default all",
        examples=["temperature_c,alarm"],
    ),
) -> History:
    """A device's readings over a time range, raw or as avg/min/max per bucket, at most 20000 points."""
    end = utc(to) if to is not None else datetime.now(UTC)
    start = utc(from_) if from_ is not None else before(end, DEFAULT_RANGE)
    ordered(start, end)
    names = list(dict.fromkeys(n.strip() for n in (metrics or "").split(",") if n.strip()))
    found = telemetry_service.history_of(
        conn, reads, user, device_id, start=start, end=end, bucket=bucket, metrics=names
    )
    return History.model_validate(found)
