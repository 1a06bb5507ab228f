"""Telemetry history's buckets: the widths a device's readings are aggregated over."""

from datetime import timedelta
from enum import StrEnum


class Bucket(StrEnum):
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"


BUCKET_WIDTH: dict[Bucket, timedelta] = {
    Bucket.MINUTE: timedelta(minutes=1),
    Bucket.HOUR: timedelta(hours=1),
    Bucket.DAY: timedelta(days=1),
}
