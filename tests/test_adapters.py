"""The adapter language and its mapping engine, without services: files checked with file, adapter and
field named, each feature mapping a vendor message, and the shipped adapters against their samples."""

import base64
import json
import struct
from pathlib import Path

import pytest

from bench.adapters import measure
from hub.adapters.loader import AdaptersRejected, load, load_text
from hub.adapters.mapping import Mapped, Mapper, Refused
from hub.cli import main
from hub.domain.deadletters import AdapterStep
from hub.domain.devices import DeviceKind, DeviceRef
from hub.ingest.adapted import AdapterSet, run_samples

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["onenet-smoke", "ctwing-manhole", "facegate", "lampgw"]
LAMP = DeviceRef("c1-lp1", DeviceKind.LAMPPOST, "c1", None, None)
HOLE = DeviceRef("c1-mh1", DeviceKind.MANHOLE, "c1", None, None)


def _mapper(text: str) -> Mapper:
    adapters, errors = load_text(text, "t.yaml")
    assert errors == []
    return Mapper(adapters[0])


def _errors(text: str) -> list[str]:
    return [str(e) for e in load_text(text, "t.yaml")[1]]


MANHOLE = """
adapters:
  - id: mh
    title: t
    source: {http: {platform: ctwing, endpoint: mh}}
    kind: manhole
    device: {path: IMEI, by: imei}
    ts: {path: t, format: epoch_s}
    seq: {path: sn, from: platform_message_id}
    payload: {path: data, encoding: base64}
    telemetry:
      - {field: cover_open, bytes: {offset: 0, bit: 1}}
      - {field: tilt_deg, bytes: {offset: 1, length: 4, type: float, endian: little}}
      - {field: water_level_cm, bytes: {offset: 5, length: 2, endian: little}, unit: mm}
      - {field: ch4_pct_lel, const: 0}
      - {field: h2s_ppm, bytes: {offset: 7, length: 2, type: int}, scale: 0.1, offset: 1}
      - {field: battery_pct, bytes: {offset: 9}}
"""


def test_binary_fields_read_offset_length_type_endianness_bit_and_scale() -> None:
    frame = (
        bytes([0b10]) + struct.pack("<f", 7.5) + struct.pack("<H", 1505) + struct.pack(">h", 30) + bytes([61])
    )
    body = {"IMEI": "8600", "t": 1796558400, "sn": 7, "data": base64.b64encode(frame).decode()}
    (out,) = _mapper(MANHOLE).map(
        "", json.dumps(body).encode(), lambda by, v: HOLE if (by, v) == ("imei", "8600") else None
    )
    assert isinstance(out, Mapped)
    assert out.body == {
        "device_id": "c1-mh1",
        "ts": "2026-12-06T12:00:00+00:00",
        "seq": 7,
        "cover_open": True,
        "tilt_deg": 7.5,
        "water_level_cm": 150.5,
        "ch4_pct_lel": 0,
        "h2s_ppm": 4.0,
        "battery_pct": 61,
    }


LAMPS = """
adapters:
  - id: gw
    title: t
    source: {mqtt: v/gw/+/up}
    kind: lamppost
    foreach: data.lamps
    device: {path: addr, by: vendor_id}
    ts: {path: $.time, format: iso}
    seq: {path: $.id, from: platform_message_id}
    telemetry:
      - {field: lamp_on, path: st, map: {"ON": true, "OFF": false}}
      - {field: dim_level_pct, path: dim}
      - {field: power_w, path: "vals[0]", unit: kW}
      - {field: voltage_v, path: "vals[1]"}
      - {field: current_a, path: 'vals[2]'}
      - {field: pole_tilt_deg, const: 0}
      - {field: noise_db, path: noise, optional: true}
      - {field: rssi_dbm, path: $.rssi, type: int}
    events:
      - {event: cabinet_opened, when: {path: door, in: [1, "open"]}}
"""


def test_foreach_maps_each_item_and_refuses_only_the_bad_one() -> None:
    body = {
        "time": "2026-12-06T20:00:00+08:00",
        "id": "c0ffee-42",
        "rssi": -71.0,
        "data": {
            "lamps": [
                {"addr": "A1", "st": "ON", "dim": 50, "vals": [0.08, 230, 0.35], "door": "open"},
                {"addr": "A2", "st": "DIMMED", "dim": 50, "vals": [0.08, 230, 0.35]},
                {"addr": "A3", "st": "OFF", "dim": 0, "vals": [0, 230, 0], "noise": 40},
            ]
        },
    }
    out = _mapper(LAMPS).map(
        "v/gw/g1/up", json.dumps(body).encode(), lambda _by, v: LAMP if v in ("A1", "A2") else None
    )
    first, event, second, third = out
    assert isinstance(first, Mapped) and isinstance(event, Mapped)
    assert first.body["power_w"] == 80.0 and first.body["lamp_on"] is True and first.body["rssi_dbm"] == -71
    assert "noise_db" not in first.body
    assert event.body["event"] == "cabinet_opened" and event.body["seq"] == first.body["seq"]
    again = _mapper(LAMPS).map("v/gw/g1/up", json.dumps(body).encode(), lambda _b, _v: LAMP)[0]
    assert isinstance(again, Mapped) and again.body["seq"] == first.body["seq"]  # a text id: a stable number
    assert second == Refused(AdapterStep.FIELD, "adapter: field lamp_on: vendor value 'DIMMED' is not in map")
    assert third == Refused(AdapterStep.DEVICE, "unregistered device with vendor_id 'A3'")
    empty = {**body, "data": {"lamps": []}}
    assert _mapper(LAMPS).map("v/gw/g1/up", json.dumps(empty).encode(), lambda _b, _v: LAMP) == [
        Refused(AdapterStep.FIELD, "adapter: foreach: the array at 'data.lamps' is empty")
    ]


def test_topic_segment_unit_conversion_and_refusals_name_the_step() -> None:
    m = _mapper("""
adapters:
  - id: sd
    title: t
    source: {mqtt: v/sd/+/up}
    kind: smoke_detector
    device: {topic_segment: 2}
    ts: {path: ts, format: epoch_ms}
    seq: {path: n, from: device_counter}
    telemetry:
      - {field: smoke_obscuration_pct_per_m, path: s}
      - {field: temperature_c, path: f, unit: degF}
      - {field: battery_pct, path: b, type: float}
      - {field: alarm, path: a, type: bool}
""")
    sd = DeviceRef("c1-sd1", DeviceKind.SMOKE_DETECTOR, "c1", None, None)

    def resolve(by: str, value: str) -> DeviceRef | None:
        return {("device_id", "c1-sd1"): sd, ("device_id", "c1-lp1"): LAMP}.get((by, value))

    ok = m.map(
        "v/sd/c1-sd1/up", b'{"ts": 1796558400000, "n": "17", "s": 0, "f": 212, "b": "90", "a": 0}', resolve
    )
    assert isinstance(ok[0], Mapped) and ok[0].body["temperature_c"] == 100.0 and ok[0].body["seq"] == 17
    assert ok[0].body["battery_pct"] == 90.0 and ok[0].body["alarm"] is False
    assert m.map("v/sd/c1-sd1/up", b"not json", resolve)[0] == Refused(
        AdapterStep.SOURCE, "adapter: payload is not JSON: JSONDecodeError"
    )
    wrong_kind = m.map("v/sd/c1-lp1/up", b'{"ts": 1, "n": 1, "s": 0, "f": 1, "b": 1, "a": 0}', resolve)[0]
    assert isinstance(wrong_kind, Refused) and wrong_kind.step is AdapterStep.DEVICE
    no_seq = m.map("v/sd/c1-sd1/up", b'{"ts": 1, "s": 0, "f": 1, "b": 1, "a": 0}', resolve)[0]
    assert no_seq == Refused(AdapterStep.FIELD, "adapter: seq: no device_counter at path 'n'")
    yes_no = m.map("v/sd/c1-sd1/up", b'{"ts": 1, "n": 1, "s": 0, "f": 1, "b": 1, "a": "yes"}', resolve)[0]
    assert yes_no == Refused(AdapterStep.FIELD, "adapter: field alarm: 'yes' is not true/false (or 1/0)")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "{field: tilt, bytes: {offset: 1}}",
            "t.yaml: adapter mh: telemetry.0.field: manhole telemetry has no field 'tilt'",
        ),
        (
            "{field: tilt_deg, path: 'a..b'}",
            "t.yaml: adapter mh: telemetry.0.path: cannot read path 'a..b' at character 2",
        ),
        (
            "{field: tilt_deg, path: a, bytes: {offset: 1}}",
            "t.yaml: adapter mh: telemetry.0: give exactly one of path, bytes, topic_segment, const (got ['path', 'bytes'])",
        ),
        (
            "{field: water_level_cm, path: a, unit: degF}",
            "t.yaml: adapter mh: telemetry.0: unit 'degF' cannot be converted to cm (known: ['in', 'm', 'mm'])",
        ),
        (
            "{field: tilt_deg, bytes: {offset: 1, length: 2, type: float}}",
            "t.yaml: adapter mh: telemetry.0.bytes: a float is 4 or 8 bytes long",
        ),
        (
            "{field: tilt_deg, path: a, scale: lots}",
            "t.yaml: adapter mh: telemetry.0.scale: Input should be a valid number, unable to parse string as a number",
        ),
    ],
)
def test_a_bad_field_is_reported_with_file_adapter_and_field(change: str, expected: str) -> None:
    text = MANHOLE.split("    telemetry:")[0] + "    telemetry:\n      - " + change + "\n"
    assert _errors(text) == [expected]


def test_bad_sources_events_and_yaml_are_reported() -> None:
    assert _errors("adapters: [{id: x, title: t, kind: lamppost}")[0].startswith(
        "t.yaml: adapter -: -: cannot read YAML"
    )
    no_payload = MANHOLE.replace("    payload: {path: data, encoding: base64}\n", "")
    assert _errors(no_payload) == [
        "t.yaml: adapter mh: -: bytes needs a payload (the binary payload to read)"
    ]
    event = MANHOLE + "    events:\n      - {event: emergency_call}\n"
    assert _errors(event) == ["t.yaml: adapter mh: events.0.event: manhole has no event 'emergency_call'"]
    bad_filter = LAMPS.replace("v/gw/+/up", "v/gw#")
    assert _errors(bad_filter) == ["t.yaml: adapter gw: source: 'v/gw#' is not an MQTT topic filter"]


def test_a_bad_file_is_refused_while_the_others_stay(tmp_path: Path) -> None:
    (tmp_path / "mh.yaml").write_text(MANHOLE)
    (tmp_path / "gw.yaml").write_text(LAMPS)
    adapters = AdapterSet(tmp_path, "sc/v1")
    assert adapters.reload() == []
    assert {m.adapter.id for m in adapters.mappers} == {"mh", "gw"}
    (tmp_path / "gw.yaml").write_text(LAMPS.replace("dim_level_pct", "dimmer"))
    (tmp_path / "mh.yaml").write_text(MANHOLE.replace("title: t", "title: new"))
    (tmp_path / "native.yaml").write_text(LAMPS.replace("id: gw", "id: nat").replace("v/gw/+/up", "sc/v1/#"))
    (tmp_path / "pushes.yaml").write_text(
        LAMPS.replace("id: gw", "id: push").replace("v/gw/+/up", "+/onenet/#")
    )
    adapters.watch()
    assert [str(e) for e in adapters.last_errors] == [
        "gw.yaml: adapter gw: telemetry.1.field: lamppost telemetry has no field 'dimmer'",
        "native.yaml: adapter nat: source.mqtt: topic filter overlaps native topics sc/v1/…",
        "pushes.yaml: adapter push: source.mqtt: topic filter overlaps http/…, where HTTP pushes are queued",
    ]
    by_id = {m.adapter.id: m.adapter for m in adapters.mappers}
    assert set(by_id) == {"mh", "gw"} and by_id["mh"].title == "new"
    assert adapters.for_topic("v/gw/g9/up") is not None and adapters.for_topic("sc/v1/a/b/c/d") is None
    with pytest.raises(AdaptersRejected):
        load(tmp_path, "sc/v1")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_adapter_maps_its_samples_as_expected(name: str) -> None:
    lines, ok = run_samples(
        ROOT / "adapters" / f"{name}.yaml", ROOT / "adapters" / "samples" / f"{name}.jsonl", "sc/v1"
    )
    assert ok, "\n".join(lines)
    assert any(" sc/v1/sunrise/" in line for line in lines) and any("refused at" in line for line in lines)


def test_adapters_test_exits_non_zero_on_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = (
        (ROOT / "adapters" / "samples" / "lampgw.jsonl")
        .read_text()
        .replace('"dim_level_pct": 80', '"dim_level_pct": 81', 1)
    )
    (tmp_path / "s.jsonl").write_text(samples)
    assert main(["adapters", "test", str(ROOT / "adapters" / "lampgw.yaml"), str(tmp_path / "s.jsonl")]) == 1
    assert "s.jsonl:2: MISMATCH" in capsys.readouterr().out
    assert main(["adapters", "check", str(ROOT / "adapters")]) == 0
    assert "4 adapter(s) OK" in capsys.readouterr().out


def test_the_adapter_benchmark_compares_only_messages_that_pass() -> None:
    """A tiny pass for correctness, not a measurement: the gateway's three lamps of the one clean sample."""
    result = measure(
        ROOT / "adapters" / "lampgw.yaml", ROOT / "adapters" / "samples" / "lampgw.jsonl", repeat=2
    )
    assert (result["adapter"], result["messages"]) == ("lampgw", 6)
    assert result["native_us_per_msg"] > 0 and result["adapted_us_per_msg"] > 0
