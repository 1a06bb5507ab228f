"""The device contract: every class of bad input is rejected with a reason, good input is typed."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.domain.contract import AccessEvent, SmokeTelemetry
from hub.domain.deadletters import CODES, reason_code
from hub.domain.devices import DeviceKind, DeviceRef
from hub.ingest.decode import Accepted, Rejected, decode

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REG = {
    "sd1": DeviceRef("sd1", DeviceKind.SMOKE_DETECTOR, "oak", "b1", "g1"),
    "gate1": DeviceRef("gate1", DeviceKind.ACCESS_GATE, "oak", "b1", "g1"),
    "old1": DeviceRef("old1", DeviceKind.SMOKE_DETECTOR, "oak", "b1", "g1", decommissioned=True),
}
SMOKE_TOPIC = "sc/v1/oak/smoke_detector/sd1/telemetry"


def smoke(**over: object) -> bytes:
    body = {
        "device_id": "sd1",
        "ts": NOW.isoformat(),
        "seq": 7,
        "smoke_obscuration_pct_per_m": 0.2,
        "temperature_c": 21.0,
        "battery_pct": 90,
        "alarm": False,
    }
    body.update(over)
    return json.dumps(body).encode()


def run(topic: str, payload: bytes) -> Accepted | Rejected:
    return decode(topic, payload, prefix="sc/v1", registry=REG, now=NOW)


def test_accepts_typed_smoke_telemetry() -> None:
    result = run(SMOKE_TOPIC, smoke())
    assert isinstance(result, Accepted)
    assert isinstance(result.payload, SmokeTelemetry)
    assert result.payload.battery_pct == 90
    assert result.payload.seq == 7


def test_accepts_access_event_from_gate() -> None:
    body = {
        "device_id": "gate1",
        "ts": NOW.isoformat(),
        "seq": 1,
        "event": "access",
        "result": "denied",
        "method": "face",
        "direction": "in",
        "person_ref": "face-0042",
    }
    result = run("sc/v1/oak/access_gate/gate1/event", json.dumps(body).encode())
    assert isinstance(result, Accepted)
    assert isinstance(result.payload, AccessEvent)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("other/oak/smoke_detector/sd1/telemetry", smoke(), "wrong topic"),
        ("sc/v1/oak/smoke_detector/sd1", smoke(), "wrong topic"),
        ("sc/v1/oak/toaster/sd1/telemetry", smoke(), "unknown device kind"),
        ("sc/v1/oak/smoke_detector/sd1/gossip", smoke(), "unknown channel"),
        ("sc/v1/oak/smoke_detector/nobody/telemetry", smoke(), "unregistered device"),
        ("sc/v1/elm/smoke_detector/sd1/telemetry", smoke(), "registered as oak/smoke_detector"),
        ("sc/v1/oak/smoke_detector/old1/telemetry", smoke(device_id="old1"), "decommissioned: device old1"),
        (SMOKE_TOPIC, b"{not json", "invalid payload"),
        (SMOKE_TOPIC, b"\xff\xfe", "invalid payload"),
        (SMOKE_TOPIC, smoke(battery_pct="90"), "battery_pct"),
        (SMOKE_TOPIC, smoke(battery_pct=140), "battery_pct"),
        (SMOKE_TOPIC, smoke(smoke_obscuration_pct_per_m=float("nan")), "invalid payload"),
        (SMOKE_TOPIC, smoke(extra_field=1), "extra_field"),
        (SMOKE_TOPIC, smoke(device_id="sd2"), "does not match topic"),
        (SMOKE_TOPIC, smoke(ts="2026-11-28T12:00:00"), "ts"),
        (SMOKE_TOPIC, smoke(ts=(NOW + timedelta(hours=2)).isoformat()), "ahead of the hub clock"),
        (SMOKE_TOPIC, smoke(ts=(NOW - timedelta(days=40)).isoformat()), "older than"),
        (SMOKE_TOPIC, smoke(seq=-1), "seq"),
        (SMOKE_TOPIC, b'{"a":' * 2000 + b"1" + b"}" * 2000, "invalid payload"),
        (SMOKE_TOPIC, b" " * 20_000, "exceeds"),
        (
            "sc/v1/oak/smoke_detector/sd1/event",
            json.dumps({"device_id": "sd1", "ts": NOW.isoformat(), "seq": 1, "event": "tailgating"}).encode(),
            "not defined for smoke_detector",
        ),
    ],
)
def test_rejects_bad_input_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    result = run(topic, payload)
    assert isinstance(result, Rejected), result
    assert reason in result.reason
    assert reason_code(result.reason) in CODES, "the dashboard labels every code (CODES)"


def test_time_bounds_hold_in_every_offset_whichever_came_before() -> None:
    """The accepted window is the same instant range whatever offset a device writes its time in, and
    whichever offset and hub time the message before had (bounds are kept between messages)."""
    edges = [
        (timedelta(minutes=10), True),
        (timedelta(minutes=10, seconds=1), False),
        (-timedelta(days=30), True),
        (-timedelta(days=30, seconds=1), False),
    ]
    offsets = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    for shift, accepted in edges:
        for tz in offsets:
            for now in (NOW, NOW + timedelta(hours=1), NOW):
                payload = smoke(ts=(now + shift).astimezone(tz).isoformat())
                result = decode(SMOKE_TOPIC, payload, prefix="sc/v1", registry=REG, now=now)
                assert isinstance(result, Accepted) is accepted, (shift, tz, now, result)
