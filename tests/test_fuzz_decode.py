"""Property-based tests of the payload decoder: whatever arrives, a verdict with a reason comes out.

Arbitrary bytes, arbitrary JSON and arbitrary topics never make `decode` raise; every refusal names its
reason; and every payload generated from the contract's own JSON schema (bounds, enums, optional
fields) within the accepted time window comes back Accepted with the same values.
"""

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.domain.contract import (
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
from hub.domain.devices import Channel, DeviceKind, DeviceRef
from hub.ingest.decode import MAX_AGE, MAX_FUTURE, MAX_PAYLOAD_BYTES, Accepted, Rejected, decode

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

PREFIX = "sc/v1"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGISTRY = {f"fz-{kind.value}": DeviceRef(f"fz-{kind.value}", kind, "oak", "b1", "g1") for kind in DeviceKind}
TELEMETRY: dict[DeviceKind, type[DevicePayload]] = {
    DeviceKind.SMOKE_DETECTOR: SmokeTelemetry,
    DeviceKind.LAMPPOST: LamppostTelemetry,
    DeviceKind.MANHOLE: ManholeTelemetry,
    DeviceKind.ACCESS_GATE: GateTelemetry,
}
ENVELOPE = {"device_id", "ts", "seq"}


def run(topic: str, payload: bytes) -> Accepted | Rejected:
    return decode(topic, payload, prefix=PREFIX, registry=REGISTRY, now=NOW)


def verdict(topic: str, payload: bytes) -> Accepted | Rejected:
    """The property every input must satisfy: no exception, a verdict, and a reason for a refusal."""
    result = run(topic, payload)
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        assert isinstance(result.reason, str) and result.reason.strip(), result
    return result


# -- topics: valid ones, and ones with random segments -------------------------------------------------

segment = st.text(min_size=0, max_size=20)
topics = st.one_of(
    st.builds(
        lambda d, ch: f"{PREFIX}/oak/{REGISTRY[d].kind.value}/{d}/{ch}",
        st.sampled_from(sorted(REGISTRY)),
        st.sampled_from([c.value for c in Channel]),
    ),
    st.builds(
        lambda prefix, community, kind, device, channel: "/".join([prefix, community, kind, device, channel]),
        st.sampled_from([PREFIX, "sc/v2", "sc", "", "sc/v1/extra"]) | segment,
        st.sampled_from(["oak", "elm"]) | segment,
        st.sampled_from([k.value for k in DeviceKind]) | segment,
        st.sampled_from(sorted(REGISTRY)) | segment,
        st.sampled_from([c.value for c in Channel]) | segment,
    ),
    st.lists(segment, max_size=8).map("/".join),
    st.text(max_size=80),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=25,
)


def dumps(value: Any) -> bytes:
    """json.dumps writes NaN/Infinity as the non-standard literals, which is what a bad device sends."""
    return json.dumps(value).encode()


@FUZZ
@given(topic=topics, payload=st.binary(max_size=600))
@example(topic="sc/v1/oak/smoke_detector/fz-smoke_detector/telemetry", payload=b"\xff\xfe\x00")
@example(topic="sc/v1/oak/smoke_detector/fz-smoke_detector/telemetry", payload=b"[" * 100_000)
@example(topic="sc/v1/oak/smoke_detector/fz-smoke_detector/event", payload=b'{"a":' * 5000)
@example(topic="sc/v1/oak/access_gate/fz-access_gate/status", payload=b"")
@example(topic="sc/v1/oak/manhole/fz-manhole/telemetry", payload=b"x" * (MAX_PAYLOAD_BYTES + 1))
@example(topic="sc/v1/+/#", payload=b"{}")
@example(topic="", payload=b"")
def test_arbitrary_bytes_on_arbitrary_topics_get_a_verdict(topic: str, payload: bytes) -> None:
    verdict(topic, payload)


@FUZZ
@given(topic=topics, value=json_values)
def test_arbitrary_json_gets_a_verdict(topic: str, value: Any) -> None:
    verdict(topic, dumps(value))


# -- payloads that look nearly right: the contract's keys with arbitrary values ------------------------

known_keys = sorted(
    {
        *ENVELOPE,
        "kind",
        "event",
        "state",
        *(k for m in TELEMETRY.values() for k in m.model_fields),
        *AccessEvent.model_fields,
        *DeviceEvent.model_fields,
    }
)
near_values = st.one_of(
    json_values,
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat),
    st.sampled_from(sorted(REGISTRY)),
    st.sampled_from(sorted({e for es in EVENTS_BY_KIND.values() for e in es} | {"online", "offline"})),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "0001-01-01T00:00:00+14:00"]),
)


@FUZZ
@given(
    device=st.sampled_from(sorted(REGISTRY)),
    channel=st.sampled_from([c.value for c in Channel]),
    body=st.dictionaries(st.sampled_from(known_keys), near_values, max_size=12),
    raw_literal=st.sampled_from(["", "NaN", "Infinity", "-Infinity", "1e999"]),
)
def test_contract_shaped_json_with_wrong_values_gets_a_verdict(
    device: str, channel: str, body: dict[str, Any], raw_literal: str
) -> None:
    topic = f"{PREFIX}/oak/{REGISTRY[device].kind.value}/{device}/{channel}"
    payload = dumps(body)
    if raw_literal and body:
        # a non-finite literal spliced in as a bare JSON token, as a firmware's printf would write it
        key = next(iter(body))
        payload = dumps({**body, key: "__LIT__"}).replace(b'"__LIT__"', raw_literal.encode())
    result = verdict(topic, payload)
    if raw_literal and body and isinstance(result, Accepted):
        dumped = result.payload.model_dump()
        assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in dumped.values()), dumped


# -- valid payloads, generated from the contract's JSON schema ------------------------------------------


def from_schema(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for the subset of JSON schema the contract's models produce."""
    if "anyOf" in prop:
        return st.one_of([from_schema(p) for p in prop["anyOf"]])
    if "const" in prop:
        return st.just(prop["const"])
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        hi = prop.get("maximum", prop["exclusiveMaximum"] - 1 if "exclusiveMaximum" in prop else None)
        return st.integers(min_value=prop.get("minimum"), max_value=hi)
    if kind == "number":
        return st.floats(
            min_value=prop.get("minimum"),
            max_value=prop.get("maximum"),
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        return st.text(min_size=prop.get("minLength", 0), max_size=prop.get("maxLength", 40))
    raise AssertionError(f"the contract grew a schema this generator does not know: {prop}")


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
in_window = st.builds(
    lambda seconds, tz: (NOW + timedelta(seconds=seconds)).astimezone(tz),
    st.floats(
        min_value=-MAX_AGE.total_seconds() + 1, max_value=MAX_FUTURE.total_seconds() - 1, allow_nan=False
    ),
    offsets,
)


@st.composite
def contract_body(
    draw: st.DrawFn, model: type[DevicePayload], device: str, event: str | None
) -> dict[str, Any]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    body: dict[str, Any] = {
        "device_id": device,
        "ts": draw(in_window).isoformat(),
        "seq": draw(st.integers(min_value=0, max_value=2**63 - 1)),
    }
    for name, prop in schema["properties"].items():
        if name in ENVELOPE:
            continue
        if name == "event":
            body[name] = event
        elif name in required or draw(st.booleans()):
            body[name] = draw(from_schema(prop))
    return body


@st.composite
def valid_message(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    device = draw(st.sampled_from(sorted(REGISTRY)))
    kind = REGISTRY[device].kind
    channel = draw(st.sampled_from(list(Channel)))
    topic = f"{PREFIX}/oak/{kind.value}/{device}/{channel.value}"
    if channel is Channel.TELEMETRY:
        return topic, draw(contract_body(TELEMETRY[kind], device, None))
    if channel is Channel.EVENT:
        event = draw(st.sampled_from(sorted(EVENTS_BY_KIND[kind])))
        model = AccessEvent if event == "access" else DeviceEvent
        return topic, draw(contract_body(model, device, event))
    status: dict[str, Any] = {"state": draw(st.sampled_from(["online", "offline"]))}
    if draw(st.booleans()):
        status["ts"] = draw(in_window).isoformat()
    return topic, status


@FUZZ
@given(message=valid_message())
def test_valid_payloads_from_the_contract_round_trip(message: tuple[str, dict[str, Any]]) -> None:
    topic, body = message
    result = run(topic, dumps(body))
    assert isinstance(result, Accepted), (result, body)
    assert result.channel.value == topic.rsplit("/", 1)[-1]
    assert result.device == REGISTRY[topic.split("/")[4]]
    stored = result.payload.model_dump()
    for key, sent in body.items():
        if key == "ts":
            assert stored["ts"] == datetime.fromisoformat(sent)
        else:
            assert stored[key] == sent, key
    assert isinstance(result.payload, Status | DevicePayload)


@FUZZ
@given(message=valid_message(), who=st.sampled_from(sorted(REGISTRY)))
def test_a_valid_payload_under_another_devices_id_is_refused(
    message: tuple[str, dict[str, Any]], who: str
) -> None:
    topic, body = message
    if "device_id" not in body or who == body["device_id"]:
        return
    result = verdict(topic, dumps({**body, "device_id": who}))
    assert isinstance(result, Rejected) and "does not match topic" in result.reason


@FUZZ
@given(
    message=valid_message(),
    shift=st.one_of(
        st.floats(min_value=MAX_FUTURE.total_seconds() + 1, max_value=1e9),
        st.floats(min_value=-1e10, max_value=-MAX_AGE.total_seconds() - 1),
    ),
)
def test_timestamps_outside_the_window_are_refused(message: tuple[str, dict[str, Any]], shift: float) -> None:
    topic, body = message
    if "seq" not in body:  # status messages carry no reading time to judge
        return
    ts = (NOW + timedelta(seconds=shift)).isoformat()
    result = verdict(topic, dumps({**body, "ts": ts}))
    assert isinstance(result, Rejected)
    assert "ahead of the hub clock" in result.reason or "older than" in result.reason, result.reason
