"""A device's telemetry history as the API serves it: raw readings or per-bucket aggregates over a
range, bounded so that no request asks for more points than a chart can use."""

from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.domain.devices import DeviceKind
from hub.domain.errors import Invalid
from hub.domain.history import BUCKET_WIDTH, Bucket
from hub.domain.users import User
from hub.services.scope import visible
from hub.store import devices as device_store
from hub.store import history

MAX_RANGE = timedelta(days=400)
MAX_POINTS = 20_000
_AUTO_LIMITS = (
    (timedelta(hours=2), Bucket.RAW),
    (timedelta(days=2), Bucket.MINUTE),
    (timedelta(days=60), Bucket.HOUR),
)


def auto_bucket(span: timedelta) -> Bucket:
    """The finest bucket that keeps a default chart at a few thousand points at most."""
    for limit, bucket in _AUTO_LIMITS:
        if span <= limit:
            return bucket
    return Bucket.DAY


def history_of(
    conn: psycopg.Connection[Any],
    reads: psycopg.Connection[Any],
    user: User,
    device_id: str,
    *,
    start: datetime,
    end: datetime,
    bucket: Bucket | None,
    metrics: list[str],
) -> dict[str, Any]:
    """Readings in [start, end), oldest first, of `metrics` (none named: all of the device's kind);
    without a `bucket` the finest that suits the range. The device and its scope come from `conn`, the
    primary, so a device just registered or moved counts at once; the readings from `reads`, which may be
    a standby a replication lag behind."""
    if end - start > MAX_RANGE:
        raise Invalid(f"the range from `from` to `to` is {_days(end - start)}; at most {MAX_RANGE.days} days")
    device = visible(user, device_store.get_device(conn, device_id), f"device {device_id}")
    kind = DeviceKind(device["kind"])
    wanted = _metrics(kind, metrics)
    chosen = bucket or auto_bucket(end - start)
    if chosen is Bucket.RAW:
        points = history.raw(reads, kind, device_id, wanted, start, end, limit=MAX_POINTS + 1)
        if len(points) > MAX_POINTS:
            raise Invalid(
                f"more than {MAX_POINTS} readings in the range; ask for a bucket (1m, 1h, 1d) or a shorter range"
            )
    else:
        width = BUCKET_WIDTH[chosen]
        if (end - start) / width > MAX_POINTS:
            raise Invalid(
                f"{chosen} buckets over {_days(end - start)} would be more than {MAX_POINTS} points; "
                "choose a coarser bucket or a shorter range"
            )
        points = history.buckets(reads, kind, device_id, wanted, start, end, width)
    return {
        "device_id": device_id,
        "kind": kind,
        "bucket": chosen,
        "from": start,
        "to": end,
        "metrics": wanted,
        "points": points,
    }


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):.4g} days"


def _metrics(kind: DeviceKind, requested: list[str]) -> list[str]:
    valid = history.METRICS[kind]
    unknown = [n for n in requested if n not in valid]
    if unknown:
        raise Invalid(
            f"unknown metric{'s' if len(unknown) > 1 else ''} for a {kind}: {', '.join(unknown)}; "
            f"valid metrics: {', '.join(valid)}"
        )
    return requested or list(valid)
