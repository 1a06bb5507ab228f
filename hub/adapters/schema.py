"""The adapter file format: pydantic models, checked when a file loads so a mistake is reported with its
file, adapter and field before any message is mapped. Nothing in a file is ever run as code."""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hub.adapters.paths import JsonPath, PathError, compile_path
from hub.domain.contract import EVENT_FIELDS, EVENTS_BY_KIND, TELEMETRY_FIELDS
from hub.domain.devices import DeviceKind

Scalar = bool | int | float | str
AdapterId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]

UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "c": {"degF": (5 / 9, -32 * 5 / 9), "K": (1.0, -273.15), "dC": (0.1, 0.0)},
    "cm": {"mm": (0.1, 0.0), "m": (100.0, 0.0), "in": (2.54, 0.0)},
    "w": {"kW": (1000.0, 0.0), "mW": (0.001, 0.0)},
    "v": {"mV": (0.001, 0.0), "kV": (1000.0, 0.0)},
    "a": {"mA": (0.001, 0.0)},
    "s": {"ms": (0.001, 0.0), "min": (60.0, 0.0), "h": (3600.0, 0.0)},
    "ppm": {"ppb": (0.001, 0.0)},
}
"""Per target unit (the suffix of a contract field's name): vendor unit → (factor, offset)."""


def target_unit(field: str) -> str | None:
    return next((u for u in UNITS if field.endswith("_" + u)), None)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _compiled(text: str | None) -> JsonPath | None:
    if text is None:
        return None
    try:
        return compile_path(text)
    except PathError as exc:
        raise ValueError(str(exc)) from None


class Bytes(_Strict):
    """A value inside the binary payload: `length` bytes at `offset`, read as `type`."""

    offset: int = Field(ge=0, le=65_535)
    length: Literal[1, 2, 3, 4, 8] = 1
    type: Literal["uint", "int", "float"] = "uint"
    endian: Literal["big", "little"] = "big"
    bit: int | None = Field(default=None, ge=0, le=63, description="one bit of the integer, as true/false")

    @model_validator(mode="after")
    def _float_length(self) -> Self:
        if self.type == "float" and self.length not in (4, 8):
            raise ValueError("a float is 4 or 8 bytes long")
        if self.bit is not None and (self.type == "float" or self.bit >= self.length * 8):
            raise ValueError("bit must name a bit of an integer of this length")
        return self


class _Value(_Strict):
    """Where one value comes from: exactly one of a JSON path, the binary payload, a topic segment or a
    constant."""

    path: str | None = None
    bytes: Bytes | None = None
    topic_segment: int | None = Field(default=None, ge=0, le=31)
    const: Scalar | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        _compiled(v)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [n for n in ("path", "bytes", "topic_segment", "const") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, bytes, topic_segment, const (got {given or 'none'})")
        return self

    @property
    def json_path(self) -> JsonPath | None:
        return _compiled(self.path)


class FieldMap(_Value):
    """One field of the contract message: where its value is, and how it becomes the contract's value
    (type, then `map`, then `scale` and `offset`, then the unit)."""

    field: str
    type: Literal["float", "int", "bool", "str"] | None = None
    map: dict[str, Scalar] | None = Field(default=None, description="vendor value (as text) → contract value")
    default: Scalar | None = Field(
        default=None, description="the contract value of a vendor value not in map"
    )
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = Field(default=None, description="the vendor's unit; converted to the field's own")
    optional: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.default is not None and self.map is None:
            raise ValueError("default applies to map; give map too")
        if self.unit is not None:
            to = target_unit(self.field)
            if to is None:
                raise ValueError(f"field {self.field!r} has no unit to convert to")
            if self.unit not in UNITS[to]:
                raise ValueError(
                    f"unit {self.unit!r} cannot be converted to {to} (known: {sorted(UNITS[to])})"
                )
        return self


class Condition(_Value):
    """When an event is derived: the value (as text) equals `equals` or is one of `in`."""

    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("give exactly one of equals, in")
        return self

    def holds(self, value: object) -> bool:
        wanted = [self.equals] if self.in_ is None else self.in_
        return key_text(value) in {key_text(w) for w in wanted}


def key_text(value: object) -> str:
    """A vendor value as a map key: JSON's spelling, so `true` and `1` stay apart and 1.0 is `1`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class EventMap(_Strict):
    """An event message derived from the vendor message; the first event of the list whose `when` holds
    is the one sent (events of one message share its sequence number)."""

    event: str
    when: Condition | None = None
    fields: list[FieldMap] = []


class DeviceLookup(_Value):
    """How the device is found in the registry: by its id, or by an IMEI or vendor id stored in its
    metadata (`imei`, `vendor_id`)."""

    by: Literal["device_id", "imei", "vendor_id"] = "device_id"


class TimeMap(_Value):
    format: Literal["iso", "epoch_s", "epoch_ms"] = "iso"


class SeqMap(_Value):
    from_: Literal["platform_message_id", "device_counter"] = Field(alias="from")


class Payload(_Strict):
    """The binary payload the `bytes` values read: found at `path` and decoded from text."""

    path: str
    encoding: Literal["base64", "hex"] = "base64"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        _compiled(v)
        return v


class HttpSource(_Strict):
    platform: Literal["onenet", "ctwing"]
    endpoint: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class Source(_Strict):
    """Where the vendor's messages arrive: an MQTT topic filter on the hub's broker, or a carrier
    platform's HTTP push endpoint."""

    mqtt: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    http: HttpSource | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.mqtt is None) == (self.http is None):
            raise ValueError("give exactly one of mqtt, http")
        if self.mqtt is not None:
            levels = self.mqtt.split("/")
            if any(("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels) or (
                "#" in levels[:-1]
            ):
                raise ValueError(f"{self.mqtt!r} is not an MQTT topic filter")
        return self


class Adapter(_Strict):
    id: AdapterId
    title: str
    source: Source
    kind: DeviceKind
    device: DeviceLookup
    ts: TimeMap
    seq: SeqMap
    foreach: str | None = Field(default=None, description="an array: each item is one message")
    payload: Payload | None = None
    telemetry: list[FieldMap] | None = None
    events: list[EventMap] = []

    @field_validator("foreach")
    @classmethod
    def _foreach(cls, v: str | None) -> str | None:
        _compiled(v)
        return v

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        if self.telemetry is None and not self.events:
            raise ValueError("give telemetry, events or both")
        if self.source.mqtt is None and any(v.topic_segment is not None for v in self._values()):
            raise ValueError("topic_segment needs an mqtt source")
        if self.payload is None and any(v.bytes is not None for v in self._values()):
            raise ValueError("bytes needs a payload (the binary payload to read)")
        return self

    def _values(self) -> list[_Value]:
        out: list[_Value] = [self.device, self.ts, self.seq, *(self.telemetry or [])]
        for e in self.events:
            out += [*([e.when] if e.when else []), *e.fields]
        return out


class AdapterFile(_Strict):
    adapters: list[Adapter]


def field_problems(adapter: Adapter) -> list[tuple[tuple[str | int, ...], str]]:
    """Fields and events the adapter's kind does not have, located like pydantic's errors: checked
    apart from the models because the allowed names depend on `kind`."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    kind = adapter.kind.value
    for i, f in enumerate(adapter.telemetry or []):
        if f.field not in TELEMETRY_FIELDS[kind]:
            out.append((("telemetry", i, "field"), f"{kind} telemetry has no field {f.field!r}"))
    for i, e in enumerate(adapter.events):
        if e.event not in EVENTS_BY_KIND[kind]:
            out.append((("events", i, "event"), f"{kind} has no event {e.event!r}"))
        allowed = EVENT_FIELDS[kind] | ({"person_ref"} if e.event == "access" else set())
        for j, f in enumerate(e.fields):
            if f.field not in allowed - {"event"}:
                out.append(
                    (("events", i, "fields", j, "field"), f"event {e.event!r} has no field {f.field!r}")
                )
    return out
