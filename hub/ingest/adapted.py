"""Adapters at work: the set in force (loaded from the adapters directory, reloaded when a file
changes, a bad file refused while the others stay), a vendor message made into native contract
messages, and the check of an adapter against a samples file.

A mapped message is handed to the native path as the topic and bytes a native device would have sent,
so it passes the same decoding, rate limit, storage key and rules: an adapter cannot store anything a
native device could not."""

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from paho.mqtt.client import topic_matches_sub

from hub.adapters.loader import LoadError, adapter_files, load, load_files
from hub.adapters.mapping import Mapped, Mapper, Refused
from hub.domain.deadletters import AdapterStep
from hub.domain.devices import DeviceKind, DeviceRef
from hub.ingest.decode import Rejected, decode
from hub.ingest.inbound import Inbound
from hub.ingest.registry import RegistryCache
from hub.ingest.topics import build

log = logging.getLogger(__name__)


def http_topic(platform: str, endpoint: str) -> str:
    """The topic an HTTP push is queued and dead-lettered under; no MQTT filter may overlap `http/#`."""
    return f"http/{platform}/{endpoint}"


def native_topic(prefix: str, m: Mapped) -> str:
    return build(prefix, m.device.community, m.device.kind.value, m.device.id, m.channel.value)


class AdapterSet:
    """The adapters in force on this worker. Read from any thread; `reload` swaps the whole set."""

    def __init__(self, directory: Path, native_prefix: str) -> None:
        self.directory = directory
        self._prefix = native_prefix
        self._lock = threading.Lock()
        self._mqtt: list[tuple[str, Mapper]] = []
        self._http: dict[str, Mapper] = {}
        self._files: dict[str, list[Mapper]] = {}
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self.last_errors: list[LoadError] = []

    def reload(self) -> list[LoadError]:
        """Load every file again: a file with an error is refused and the adapters it had stay in force
        (none, if it never loaded); the good files replace theirs."""
        fingerprint = self._files_fingerprint()
        by_file, errors = load_files(self.directory, self._prefix) if self.directory.exists() else ({}, [])
        bad = {e.file for e in errors}
        with self._lock:
            self._fingerprint = fingerprint
            files = {name: [Mapper(a) for a in adapters] for name, adapters in by_file.items()}
            files |= {name: self._files[name] for name in bad if name in self._files}
            self._files = files
            every = [m for ms in files.values() for m in ms]
            self._mqtt = [(m.adapter.source.mqtt, m) for m in every if m.adapter.source.mqtt]
            self._http = {
                http_topic(h.platform, h.endpoint): m
                for m in every
                if (h := m.adapter.source.http) is not None
            }
            self.last_errors = errors
        for e in errors:
            log.error("adapter file refused, its adapters in force stay: %s", e)
        return errors

    def watch(self) -> bool:
        """A scheduler job: reload when a file was added, removed or changed; whether it did."""
        if self._files_fingerprint() == self._fingerprint:
            return False
        self.reload()
        return True

    def _files_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        if not self.directory.exists():
            return ()
        out = []
        for f in adapter_files(self.directory):
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((f.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    @property
    def mappers(self) -> list[Mapper]:
        with self._lock:
            return [m for ms in self._files.values() for m in ms]

    def topic_filters(self) -> list[str]:
        with self._lock:
            return [t for t, _ in self._mqtt]

    def for_topic(self, topic: str) -> Mapper | None:
        with self._lock:
            mqtt, http = self._mqtt, self._http
        if topic in http:
            return http[topic]
        return next((m for t, m in mqtt if topic_matches_sub(t, topic)), None)

    def by_id(self, adapter_id: str) -> Mapper | None:
        return next((m for m in self.mappers if m.adapter.id == adapter_id), None)


@dataclass(frozen=True)
class SampleDevice:
    id: str
    community: str
    imei: str | None = None
    vendor_id: str | None = None


class SampleRegistry:
    """The devices a samples file declares, answering an adapter's look-ups as the registry would."""

    def __init__(self, kind: DeviceKind, devices: Iterable[SampleDevice]) -> None:
        self._by: dict[tuple[str, str], DeviceRef] = {}
        for d in devices:
            ref = DeviceRef(d.id, kind, d.community, None, None)
            self._by[("device_id", d.id)] = ref
            if d.imei:
                self._by[("imei", d.imei)] = ref
            if d.vendor_id:
                self._by[("vendor_id", d.vendor_id)] = ref

    def resolve(self, by: str, value: str) -> DeviceRef | None:
        return self._by.get((by, value))


def outcome(mapper: Mapper, topic: str, payload: bytes, resolve: Any, prefix: str) -> list[dict[str, Any]]:
    """What a vendor message becomes, as `hub adapters test` prints and compares it: per contract
    message its topic and payload, or the step and reason of a refusal. The contract check is the native
    decoder's, with the hub clock set to the message's own time (samples are old by nature)."""
    out: list[dict[str, Any]] = []
    for r in mapper.map(topic, payload, resolve):
        if isinstance(r, Refused):
            out.append({"refused": r.step.value, "reason": r.reason})
            continue
        native = native_topic(prefix, r)
        at = datetime.fromisoformat(r.body["ts"])
        checked = decode(native, r.payload(), prefix=prefix, registry={r.device.id: r.device}, now=at)
        if isinstance(checked, Rejected):
            out.append({"refused": AdapterStep.CONTRACT.value, "reason": checked.reason})
        else:
            out.append({"topic": native, "payload": r.body})
    return out


def matches(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> bool:
    """An expected refusal names its step and, optionally, words its reason contains."""
    if len(expected) != len(got):
        return False
    for e, g in zip(expected, got, strict=True):
        if "refused" in e:
            if e["refused"] != g.get("refused") or str(e.get("reason", "")) not in str(g.get("reason")):
                return False
        elif e != g:
            return False
    return True


def sample_payload(sample: dict[str, Any]) -> bytes:
    """`body` (the vendor's JSON) or `raw` (its bytes as text, for a payload that is not JSON)."""
    if "raw" in sample:
        return str(sample["raw"]).encode()
    return json.dumps(sample["body"]).encode()


def run_samples(adapter_file: Path, samples_file: Path, prefix: str) -> tuple[list[str], bool]:
    """Each sample of a JSON-lines file through its adapter: the lines to print, and whether every
    sample with an `expect` got it. A line `{"devices": [...]}` declares registered devices (`id`,
    `community`, optional `imei`, `vendor_id`); every other line is a sample: `body` or `raw`,
    `topic` for an MQTT source, `adapter` when the file has several, and optionally `expect`."""
    mappers = {m.adapter.id: m for m in load(adapter_file, prefix)}
    devices: list[SampleDevice] = []
    lines: list[str] = []
    ok = True
    for n, text in enumerate(samples_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{samples_file.name}:{n}"
        try:
            sample = json.loads(text)
            if not isinstance(sample, dict):
                raise ValueError("a line must be a JSON object")
            if "devices" in sample:
                devices += [SampleDevice(**d) for d in sample["devices"]]
                continue
            adapter_id = sample.get("adapter") or (next(iter(mappers)) if len(mappers) == 1 else None)
            mapper = mappers.get(str(adapter_id))
            if mapper is None:
                raise ValueError(f"name the adapter (one of {sorted(mappers)})")
            registry = SampleRegistry(mapper.adapter.kind, devices)
            got = outcome(
                mapper, str(sample.get("topic", "")), sample_payload(sample), registry.resolve, prefix
            )
        except (ValueError, TypeError, KeyError) as exc:
            lines.append(f"{where}: bad sample line: {type(exc).__name__}: {exc}")
            ok = False
            continue
        for g in got:
            if "refused" in g:
                lines.append(f"{where}: refused at {g['refused']}: {g['reason']}")
            else:
                lines.append(f"{where}: {g['topic']} {json.dumps(g['payload'], ensure_ascii=False)}")
        if "expect" in sample and not matches(list(sample["expect"]), got):
            ok = False
            lines.append(f"{where}: MISMATCH, expected {json.dumps(sample['expect'], ensure_ascii=False)}")
    return lines, ok


class RegistryLookup:
    """An adapter's device look-ups for one batch, through the pipeline's registry cache: by id, or by the
    IMEI or vendor id in the devices' metadata."""

    def __init__(self, conn: "psycopg.Connection[Any]", registry: RegistryCache) -> None:
        self._conn = conn
        self._registry = registry

    def resolve(self, by: str, value: str) -> DeviceRef | None:
        device_id = value if by == "device_id" else self._registry.identified(self._conn, by, value)
        if device_id is None:
            return None
        return self._registry.covering(self._conn, {device_id}).get(device_id)


def adapt(batch: list[Inbound], adapters: AdapterSet, lookup: RegistryLookup, prefix: str) -> list[Inbound]:
    """Each vendor message of the batch as the contract messages it maps to, or as itself marked with the
    adapter's refusal; native messages (and topics no adapter takes, refused later as a wrong topic) pass
    as they are."""
    native = prefix + "/"
    if all(m.topic.startswith(native) for m in batch):
        return batch
    out: list[Inbound] = []
    for m in batch:
        if m.replay_of is not None:
            mapper = adapters.by_id(m.adapter) if m.adapter is not None else None
        else:
            mapper = None if m.topic.startswith(native) else adapters.for_topic(m.topic)
        if mapper is None:
            out.append(m)
            continue
        aid = mapper.adapter.id
        try:
            results = mapper.map(m.topic, m.payload, lookup.resolve)
        except psycopg.Error:
            raise
        except Exception as exc:  # a bug must not stop ingest: the message is kept with the error
            log.exception("adapter %s failed on a message; dead-lettering it", aid)
            reason = f"internal error: {type(exc).__name__}: {exc}"[:500]
            out.append(replace(m, adapter=aid, refused_at=AdapterStep.SOURCE, refusal=reason))
            continue
        for r in results:
            if isinstance(r, Refused):
                out.append(replace(m, adapter=aid, refused_at=r.step, refusal=r.reason))
            else:
                out.append(
                    replace(m, topic=native_topic(prefix, r), payload=r.payload(), adapter=aid, vendor=m)
                )
    return out


def originals(batch: list[Inbound]) -> list[Inbound]:
    """The messages as the broker delivered them, each once: what is acknowledged."""
    seen: set[int] = set()
    out: list[Inbound] = []
    for m in batch:
        o = m.vendor or m
        if id(o) not in seen:
            seen.add(id(o))
            out.append(o)
    return out
