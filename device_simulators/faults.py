"""Faults on demand: the bad inputs a real fleet produces, each with what the hub must do with it.

Every message states its expected fate (stored, stored once, dead-lettered with a reason, refused by the
broker), so `hub-sim fault` tells the operator what to look for, and the tests check each fault against
the hub's own decoder.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from device_simulators.models import DeviceModel
from device_simulators.site import SimDevice

Fate = Literal["stored", "duplicate", "rejected", "refused"]

FATE_TEXT: dict[Fate, str] = {
    "stored": "stored",
    "duplicate": "stored once: a duplicate of the previous message",
    "rejected": "dead-lettered",
    "refused": "refused by the broker's ACL, never reaching the hub",
}

OUT_OF_RANGE: dict[str, dict[str, Any]] = {
    "smoke_detector": {"smoke_obscuration_pct_per_m": 140.0, "temperature_c": -60.0},
    "lamppost": {"dim_level_pct": 150.0, "voltage_v": 480.0},
    "manhole": {"ch4_pct_lel": 130.0, "water_level_cm": -5.0},
    "access_gate": {"uptime_s": -1},
}


@dataclass(frozen=True)
class FaultMessage:
    device: SimDevice
    """Whose topic the message goes to (not always the sender's: see foreign-topic)."""
    channel: str
    body: bytes
    fate: Fate
    reason: str = ""
    """A fragment of the hub's dead-letter reason, for rejected messages."""
    note: str = ""

    def expectation(self) -> str:
        text = FATE_TEXT[self.fate]
        if self.reason:
            text += f" ({self.reason})"
        return f"{self.note}: {text}" if self.note else text


@dataclass(frozen=True)
class FaultContext:
    model: DeviceModel
    victim: DeviceModel
    """Another device of the community, for the fault that publishes as someone else."""
    now: datetime
    count: int


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    build: Callable[[FaultContext], list[FaultMessage]]
    count: int = 1
    """Default for --count where the fault sends a number of messages."""


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _reading(ctx: FaultContext, offset_ms: int = 0) -> dict[str, Any]:
    return ctx.model.telemetry(ctx.now + timedelta(milliseconds=offset_ms))


def _message(
    ctx: FaultContext, payload: dict[str, Any] | bytes, fate: Fate, reason: str = "", note: str = ""
) -> FaultMessage:
    body = payload if isinstance(payload, bytes) else _json(payload)
    return FaultMessage(ctx.model.device, "telemetry", body, fate, reason, note)


def _numbers(payload: dict[str, Any]) -> list[str]:
    skip = {"seq", "rssi_dbm"}
    return [
        k
        for k, v in payload.items()
        if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)
    ]


def malformed_json(ctx: FaultContext) -> list[FaultMessage]:
    whole = _json(_reading(ctx))
    return [
        _message(ctx, whole[: len(whole) // 2], "rejected", "invalid payload", "JSON cut off half-way"),
        _message(ctx, b"\xff\xfe{not json", "rejected", "invalid payload", "bytes that are not UTF-8 JSON"),
    ]


def wrong_types(ctx: FaultContext) -> list[FaultMessage]:
    sample = _reading(ctx)
    flag = next(k for k, v in sample.items() if isinstance(v, bool))
    out = []
    for i, name in enumerate((_numbers(sample)[0], flag, "seq")):
        p = _reading(ctx, i)
        p[name] = json.dumps(p[name])
        out.append(_message(ctx, p, "rejected", "invalid payload", f"{name} sent as the string {p[name]!r}"))
    return out


def out_of_range(ctx: FaultContext) -> list[FaultMessage]:
    out = []
    for i, (name, value) in enumerate(OUT_OF_RANGE[ctx.model.device.kind].items()):
        p = _reading(ctx, i)
        p[name] = value
        out.append(_message(ctx, p, "rejected", "invalid payload", f"{name} = {value}"))
    p = _reading(ctx, len(out))
    name = _numbers(p)[0]
    p[name] = float("nan")
    out.append(_message(ctx, json.dumps(p).encode(), "rejected", "invalid payload", f"{name} = NaN"))
    return out


def duplicates(ctx: FaultContext) -> list[FaultMessage]:
    body = _json(_reading(ctx))
    return [
        _message(ctx, body, "duplicate" if i else "stored", note=f"copy {i + 1}") for i in range(ctx.count)
    ]


def out_of_order(ctx: FaultContext) -> list[FaultMessage]:
    """Readings ten seconds apart, sent newest first (as a device flushing its buffer backwards)."""
    readings = [
        ctx.model.telemetry(ctx.now - timedelta(seconds=10 * (ctx.count - i))) for i in range(ctx.count)
    ]
    return [_message(ctx, p, "stored", note=f"reading from {p['ts']}") for p in reversed(readings)]


def late(ctx: FaultContext) -> list[FaultMessage]:
    return [
        _message(
            ctx,
            ctx.model.telemetry(ctx.now - timedelta(hours=2)),
            "stored",
            note="two hours old: kept, but too late to change any rule's state",
        ),
        _message(
            ctx,
            ctx.model.telemetry(ctx.now - timedelta(days=31)),
            "rejected",
            "older than 30 days",
            "31 days old",
        ),
    ]


def clock_skew(ctx: FaultContext) -> list[FaultMessage]:
    return [
        _message(ctx, ctx.model.telemetry(ctx.now + timedelta(minutes=5)), "stored", note="clock 5 min fast"),
        _message(
            ctx,
            ctx.model.telemetry(ctx.now + timedelta(minutes=15)),
            "rejected",
            "ahead of the hub clock",
            "clock 15 min fast",
        ),
    ]


def burst(ctx: FaultContext) -> list[FaultMessage]:
    return [
        _message(ctx, _reading(ctx, i), "stored", note=f"burst {i + 1}/{ctx.count}") for i in range(ctx.count)
    ]


def foreign_topic(ctx: FaultContext) -> list[FaultMessage]:
    """A device (or whoever stole its password) publishing a reading as another device."""
    victim = ctx.victim.device
    body = _json(ctx.victim.telemetry(ctx.now))
    note = f"{ctx.model.device.id} publishing on {victim.id}'s topic"
    return [FaultMessage(victim, "telemetry", body, "refused", note=note)]


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("malformed-json", "JSON cut off half-way, and bytes that are not UTF-8", malformed_json),
        Fault("wrong-types", 'a number, a flag and seq sent as strings ("88" for 88)', wrong_types),
        Fault("out-of-range", "values outside the contract's ranges, and NaN", out_of_range),
        Fault("duplicates", "the same message several times (--count)", duplicates, count=3),
        Fault("out-of-order", "readings sent newest first (--count)", out_of_order, count=5),
        Fault("late", "a reading two hours old, and one 31 days old", late),
        Fault("clock-skew", "a device clock 5 min fast (accepted) and 15 min fast (refused)", clock_skew),
        Fault("burst", "many valid readings at once (--count)", burst, count=500),
        Fault("foreign-topic", "a device publishing on another device's topic", foreign_topic),
    )
}
