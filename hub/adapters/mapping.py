"""A vendor message → contract messages, by one adapter. Pure: no I/O; the registry is asked through
`resolve`. Each item (one, or one per element of `foreach`) becomes messages or a refusal that names
the step and the field, so one bad lamp of a gateway's report does not hide the others."""

import base64
import binascii
import hashlib
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.adapters.paths import compile_path
from hub.adapters.schema import UNITS, Adapter, Bytes, DeviceLookup, FieldMap, key_text, target_unit
from hub.domain.deadletters import AdapterStep
from hub.domain.devices import Channel, DeviceRef

Resolve = Callable[[str, str], DeviceRef | None]
"""(by, value) → the registered device: by `device_id`, `imei` or `vendor_id`."""

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Mapped:
    device: DeviceRef
    channel: Channel
    body: dict[str, Any]
    """the contract message as JSON would carry it (`ts` as ISO 8601 text)"""

    def payload(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Refused:
    step: AdapterStep
    reason: str


class _Refuse(Exception):
    def __init__(self, step: AdapterStep, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


@dataclass(frozen=True, slots=True)
class _Item:
    item: Any
    root: Any
    topic: list[str]
    blob: bytes | None


class Mapper:
    """One adapter with its paths compiled, ready to map messages."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self._foreach = compile_path(adapter.foreach) if adapter.foreach is not None else None
        self._paths = {text: compile_path(text) for text in _paths(adapter)}

    def map(self, topic: str, payload: bytes, resolve: Resolve) -> list[Mapped | Refused]:
        try:
            root = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return [Refused(AdapterStep.SOURCE, f"adapter: payload is not JSON: {type(exc).__name__}")]
        items: list[Any] = [root]
        if self._foreach is not None:
            found, value = self._foreach.find(root, root)
            if not found or not isinstance(value, list):
                return [Refused(AdapterStep.FIELD, f"adapter: foreach: no array at {self._foreach.text!r}")]
            if not value:
                return [
                    Refused(
                        AdapterStep.FIELD, f"adapter: foreach: the array at {self._foreach.text!r} is empty"
                    )
                ]
            items = value
        out: list[Mapped | Refused] = []
        for item in items:
            try:
                out += self._item(item, root, topic.split("/"), resolve)
            except _Refuse as r:
                out.append(Refused(r.step, r.reason))
        return out

    def _item(self, item: Any, root: Any, topic: list[str], resolve: Resolve) -> list[Mapped]:
        a = self.adapter
        at = _Item(item, root, topic, None)
        if a.payload is not None:
            at = _Item(item, root, topic, self._blob(at))
        device = self._device(a.device, at, resolve)
        head = {"device_id": device.id, "ts": self._ts(at), "seq": self._seq(at)}
        out: list[Mapped] = []
        if a.telemetry is not None:
            body = dict(head)
            for f in a.telemetry:
                self._put(body, f, at)
            out.append(Mapped(device, Channel.TELEMETRY, body))
        for e in a.events:
            if e.when is not None:
                found, value = self._raw(e.when, at)
                if not found or not e.when.holds(value):
                    continue
            body = {**head, "event": e.event}
            for f in e.fields:
                self._put(body, f, at)
            out.append(Mapped(device, Channel.EVENT, body))
            break
        if not out:  # kept, not dropped: a message type the adapter does not know yet
            raise _Refuse(
                AdapterStep.FIELD, "adapter: no event's `when` holds and the adapter maps no telemetry"
            )
        return out

    def _blob(self, at: _Item) -> bytes:
        spec = self.adapter.payload
        assert spec is not None
        found, text = self._json(spec.path, at)
        if not found or not isinstance(text, str):
            raise _Refuse(AdapterStep.SOURCE, f"adapter: payload: no text at {spec.path!r}")
        try:
            if spec.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise _Refuse(AdapterStep.SOURCE, f"adapter: payload: not {spec.encoding}: {exc}") from None

    def _device(self, spec: DeviceLookup, at: _Item, resolve: Resolve) -> DeviceRef:
        found, value = self._raw(spec, at)
        if not found or value is None or isinstance(value, (dict, list)) or value == "":
            raise _Refuse(AdapterStep.DEVICE, f"adapter: device: no {spec.by} found ({_where(spec)})")
        ref = key_text(value)
        device = resolve(spec.by, ref)
        if device is None:
            label = "device" if spec.by == "device_id" else f"device with {spec.by}"
            raise _Refuse(AdapterStep.DEVICE, f"unregistered {label} {ref!r}")
        if device.kind != self.adapter.kind:
            raise _Refuse(
                AdapterStep.DEVICE,
                f"adapter: device {device.id} is registered as {device.kind}, the adapter maps {self.adapter.kind}",
            )
        return device

    def _ts(self, at: _Item) -> str:
        spec = self.adapter.ts
        found, value = self._raw(spec, at)
        if not found or value is None:
            raise _Refuse(AdapterStep.FIELD, f"adapter: ts: nothing at {_where(spec)}")
        try:
            if spec.format == "iso":
                if not isinstance(value, str):
                    raise ValueError("not text")
                ts = datetime.fromisoformat(value)
                if ts.tzinfo is None:
                    raise ValueError("no UTC offset")
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise ValueError("not a number")
                seconds = float(value) / (1000 if spec.format == "epoch_ms" else 1)
                ts = datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise _Refuse(
                AdapterStep.FIELD, f"adapter: ts: {value!r} is not {spec.format} time: {exc}"
            ) from None
        return ts.isoformat()

    def _seq(self, at: _Item) -> int:
        spec = self.adapter.seq
        found, value = self._raw(spec, at)
        if not found or value is None or isinstance(value, (bool, dict, list)):
            raise _Refuse(AdapterStep.FIELD, f"adapter: seq: no {spec.from_} at {_where(spec)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and 0 <= value < 2**63:
            return value
        if isinstance(value, str) and value.isdigit() and int(value) < 2**63:
            return int(value)
        # a platform's message id that is not a number (a UUID): a stable number of 63 bits
        return int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest()) >> 1

    def _put(self, body: dict[str, Any], spec: FieldMap, at: _Item) -> None:
        found, value = self._raw(spec, at)
        if not found or value is None:
            if spec.optional:
                return
            raise _Refuse(AdapterStep.FIELD, f"adapter: field {spec.field}: nothing at {_where(spec)}")
        body[spec.field] = _convert(spec, value)

    def _raw(self, spec: Any, at: _Item) -> tuple[bool, Any]:
        if spec.path is not None:
            return self._json(spec.path, at)
        if spec.bytes is not None:
            assert at.blob is not None
            return True, _read_bytes(spec.bytes, at.blob, getattr(spec, "field", "value"))
        if spec.topic_segment is not None:
            if spec.topic_segment >= len(at.topic):
                return False, None
            return True, at.topic[spec.topic_segment]
        return True, spec.const

    def _json(self, text: str, at: _Item) -> tuple[bool, Any]:
        return self._paths[text].find(at.item, at.root)


def _paths(a: Adapter) -> set[str]:
    """Every JSON path the adapter reads (each was checked when the file loaded)."""
    values: list[Any] = [a.device, a.ts, a.seq, *(a.telemetry or [])]
    for e in a.events:
        values += [*([e.when] if e.when else []), *e.fields]
    return {v.path for v in values if v.path is not None} | ({a.payload.path} if a.payload else set())


def _where(spec: Any) -> str:
    if spec.path is not None:
        return f"path {spec.path!r}"
    if spec.bytes is not None:
        return f"bytes at {spec.bytes.offset}"
    if spec.topic_segment is not None:
        return f"topic segment {spec.topic_segment}"
    return "const"


def _read_bytes(spec: Bytes, blob: bytes, field: str) -> int | float | bool:
    end = spec.offset + spec.length
    if end > len(blob):
        raise _Refuse(
            AdapterStep.FIELD,
            f"adapter: field {field}: bytes {spec.offset}..{end - 1} are beyond the {len(blob)}-byte payload",
        )
    chunk = blob[spec.offset : end]
    if spec.type == "float":
        fmt = ("<" if spec.endian == "little" else ">") + ("f" if spec.length == 4 else "d")
        return float(struct.unpack(fmt, chunk)[0])
    number = int.from_bytes(chunk, spec.endian, signed=spec.type == "int")
    if spec.bit is not None:
        return bool((number >> spec.bit) & 1)
    return number


def _convert(spec: FieldMap, raw: Any) -> Any:
    """map, then scale and offset, then the unit, then the type."""
    name = spec.field
    value = raw
    if spec.map is not None:
        key = key_text(raw)
        if key in spec.map:
            value = spec.map[key]
        elif spec.default is not None:
            value = spec.default
        else:
            raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: vendor value {key!r} is not in map")
    if isinstance(value, (dict, list)):
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: an object or array, not a value")
    if spec.scale != 1.0 or spec.offset != 0.0 or spec.unit is not None:
        number = _number(name, value)
        number = number * spec.scale + spec.offset
        if spec.unit is not None:
            unit = target_unit(name)
            assert unit is not None
            factor, shift = UNITS[unit][spec.unit]
            number = number * factor + shift
        value = round(number, 9)
    return _typed(spec, value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: true/false is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: {value!r} is not a finite number")
    return number


def _typed(spec: FieldMap, value: Any) -> Any:
    name = spec.field
    if spec.type is None:
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: {value!r} is not a finite number")
        return value
    if spec.type == "str":
        return key_text(value)
    if spec.type == "bool":
        text = key_text(value).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: {value!r} is not true/false (or 1/0)")
    number = _number(name, value)
    if spec.type == "float":
        return number
    if not number.is_integer():
        raise _Refuse(AdapterStep.FIELD, f"adapter: field {name}: {value!r} is not a whole number")
    return int(number)
