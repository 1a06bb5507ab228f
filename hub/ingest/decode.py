"""Bytes from the broker to a validated message or a reasoned rejection. Pure: no I/O, injected clock."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from pydantic import ValidationError

from hub.domain.contract import (
    EVENT_ADAPTER,
    EVENTS_BY_KIND,
    AccessEvent,
    DeviceEvent,
    DevicePayload,
    GateTelemetry,
    LamppostTelemetry,
    ManholeTelemetry,
    SmokeTelemetry,
    Status,
)
from hub.domain.deadletters import DECOMMISSIONED, UNREGISTERED
from hub.domain.devices import Channel, DeviceKind, DeviceRef
from hub.ingest.topics import Topic, TopicError, parse

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_FUTURE = timedelta(minutes=10)
MAX_AGE = timedelta(days=30)

TELEMETRY_MODELS: dict[DeviceKind, type[DevicePayload]] = {
    DeviceKind.SMOKE_DETECTOR: SmokeTelemetry,
    DeviceKind.LAMPPOST: LamppostTelemetry,
    DeviceKind.MANHOLE: ManholeTelemetry,
    DeviceKind.ACCESS_GATE: GateTelemetry,
}


@dataclass(slots=True)
class Accepted:
    """Treated as immutable; not declared frozen, because a frozen dataclass's `__init__` sets each
    field through `object.__setattr__`, at three times the cost, and one is made per message."""

    device: DeviceRef
    channel: Channel
    payload: DevicePayload | Status


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


def decode(
    topic: str, payload: bytes, *, prefix: str, registry: Mapping[str, DeviceRef], now: datetime
) -> Accepted | Rejected:
    try:
        t = parse(topic, prefix)
    except TopicError as exc:
        return Rejected(f"wrong topic: {exc}")
    device = registry.get(t.device_id)
    if device is None:
        return Rejected(f"{UNREGISTERED} device {t.device_id!r}")
    if device.decommissioned:
        return Rejected(
            f"{DECOMMISSIONED}: device {device.id} is out of service; re-commission it to accept it"
        )
    if device.community != t.community or device.kind != t.kind:
        return Rejected(
            f"topic says {t.community}/{t.kind} but device {device.id} is registered as "
            f"{device.community}/{device.kind}"
        )
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        model = _validate(t, payload)
    except ValidationError as exc:
        return Rejected("invalid payload: " + _summary(exc))
    except (UnicodeDecodeError, RecursionError) as exc:
        return Rejected(f"invalid payload: {type(exc).__name__}")
    if isinstance(model, Status):
        return Accepted(device, t.channel, model)
    return _check_identity_and_time(t, device, model, now)


_VALIDATE_TELEMETRY: dict[DeviceKind, Callable[[bytes], DevicePayload]] = {
    kind: model.__pydantic_validator__.validate_json for kind, model in TELEMETRY_MODELS.items()
}
"""Each contract model's own validator, called without `model_validate_json`'s Python wrapper, which
cost a third as much again as the validation itself; the same validator, so the same inputs pass and
fail, with the same errors."""
_VALIDATE_EVENT: Callable[[bytes], AccessEvent | DeviceEvent] = EVENT_ADAPTER.validator.validate_json
_VALIDATE_STATUS: Callable[[bytes], Status] = Status.__pydantic_validator__.validate_json


def _validate(t: Topic, payload: bytes) -> DevicePayload | Status:
    if t.channel is Channel.TELEMETRY:
        return _VALIDATE_TELEMETRY[t.kind](payload)
    if t.channel is Channel.EVENT:
        return _VALIDATE_EVENT(payload)
    return _VALIDATE_STATUS(payload)


def _check_identity_and_time(
    t: Topic, device: DeviceRef, model: DevicePayload, now: datetime
) -> Accepted | Rejected:
    if model.device_id != t.device_id:
        return Rejected(f"payload device_id {model.device_id!r} does not match topic device {t.device_id!r}")
    event = model.__dict__.get("event")  # not getattr: a telemetry model's AttributeError is slow
    if event is not None and event not in EVENTS_BY_KIND[t.kind]:
        return Rejected(f"event {event!r} is not defined for {t.kind}")
    ts = model.ts
    oldest, latest = _window(now, ts.tzinfo)
    if ts > latest:
        return Rejected(f"ts {ts.isoformat()} is more than {MAX_FUTURE} ahead of the hub clock")
    if ts < oldest:
        return Rejected(f"ts {ts.isoformat()} is older than {MAX_AGE.days} days")
    return Accepted(device, t.channel, model)


_last_window: tuple[datetime, tzinfo | None, datetime, datetime] | None = None


def _window(now: datetime, tz: tzinfo | None) -> tuple[datetime, datetime]:
    """The oldest and latest device time accepted at `now`, written in the device time's own tzinfo.

    Comparing two datetimes that share a tzinfo object skips both `utcoffset()` calls, which cost
    half a microsecond each with pydantic's tzinfo; pydantic shares one tzinfo object among all the
    times written in UTC, so a batch's bounds are converted once and kept for the next message (the
    tuple is replaced whole, so another thread decoding sees a consistent one)."""
    global _last_window
    last = _last_window
    if last is not None and last[0] is now and last[1] is tz:
        return last[2], last[3]
    oldest, latest = (now - MAX_AGE).astimezone(tz), (now + MAX_FUTURE).astimezone(tz)
    _last_window = (now, tz, oldest, latest)
    return oldest, latest


def _summary(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
