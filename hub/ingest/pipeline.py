"""The one wiring of the ingest path: decode → store + evaluate rules → alerts → cases, per batch.

A batch is bounded by rows and by time. It is written in one transaction and its MQTT messages are
acknowledged only after the commit, so a crash at any point leaves the broker to redeliver what was
not committed, and the unique keys make the redelivery land once.
"""

import functools
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases import data_gaps, dispatch
from hub.cases import service as cases
from hub.domain.contract import AccessEvent, DeviceEvent, DevicePayload, Status
from hub.domain.devices import Channel, DeviceRef
from hub.engine.evaluator import AlertOpened, Engine, Evaluation, Reading
from hub.engine.schema import Rule
from hub.ingest import recovery
from hub.ingest.decode import Accepted, Rejected, decode
from hub.ingest.metrics import IngestMetrics
from hub.ingest.partitions import subject_community
from hub.ingest.ratelimit import DeviceRateLimit
from hub.store import deadletters
from hub.store import devices as device_store
from hub.store.telemetry import (
    ACCESS_EVENTS,
    DEVICE_EVENTS,
    TELEMETRY_TABLES,
    Table,
    ensure_staging,
    insert_new,
)

log = logging.getLogger(__name__)

_ENVELOPE = ("device_id", "ts", "seq", "kind", "rssi_dbm")


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    client_id: str | None = None
    partition: int = 0


Ack = Callable[[Sequence[Inbound]], None]
"""Acknowledges these messages (the QoS 1 ones) on the session each came from."""


class Pipeline:
    def __init__(
        self,
        *,
        database_url: str,
        prefix: str,
        engine: Engine,
        pseudonym_key: bytes,
        inbox: "queue.Queue[Inbound]",
        ack: Ack,
        batch_max_rows: int,
        batch_max_delay_s: float,
        dead_letter_bytes: int,
        metrics: IngestMetrics | None = None,
        tick_interval_s: float = 1.0,
        no_data_after_s: float = 300.0,
        rate_limit: DeviceRateLimit | None = None,
        partitioned: bool = False,
        state_flush_s: float = 0.0,
    ) -> None:
        self._url = database_url
        self._prefix = prefix
        self.engine = engine
        self._pkey = pseudonym_key
        self._inbox = inbox
        self._ack = ack
        self._max_rows = batch_max_rows
        self._max_delay = batch_max_delay_s
        self._dl_bytes = dead_letter_bytes
        self.metrics = metrics or IngestMetrics()
        self._conn: psycopg.Connection[Any] | None = None
        self._registry: dict[str, DeviceRef] = {}
        self._registry_loaded_at = 0.0
        self.idle = threading.Event()
        self._pending_rules: list[Rule] | None = None
        self._tick_every = tick_interval_s
        self._next_tick = time.monotonic() + tick_interval_s
        self._no_data_after_s = no_data_after_s
        self._limit = rate_limit
        self._state_flush_s = state_flush_s
        self._state_flush_at = 0.0
        self._state_pending: dict[str, device_store.StateUpdate] = {}
        self._limit_logged: dict[str, float] = {}
        self._owned: set[int] | None = set() if partitioned else None
        """Partitions whose messages this pipeline takes; None: every message (a single, unleased hub)."""
        self._control: queue.Queue[tuple[Callable[[], None], threading.Event, list[BaseException]]] = (
            queue.Queue()
        )

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set and the inbox is empty."""
        while not (stop.is_set() and self._inbox.empty()):
            self._run_control()
            batch = self._owned_only(self._collect(stop))
            if batch:
                self.idle.clear()
                limited = self._over_limit(batch)
                self._with_retry(functools.partial(self._process_or_isolate, batch, limited))
            else:
                self.idle.set()
            if self._state_pending and time.monotonic() >= self._state_flush_at:
                self._with_retry(self._flush_state)
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + self._tick_every
                self._with_retry(self._tick_now)
        if self._state_pending:
            self._with_retry(self._flush_state)
        if self._conn is not None:
            self._conn.close()

    def _collect(self, stop: threading.Event) -> list[Inbound]:
        try:
            first = self._inbox.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._max_delay
        while len(batch) < self._max_rows:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        self.metrics.queue_depth = self._inbox.qsize()
        return batch

    def between_batches(self, work: Callable[[], None], timeout: float = 300.0) -> None:
        """Run `work` on the pipeline thread between two batches and wait for it; its exception is
        raised here. Rule state and partition ownership change only there, never under a batch."""
        done = threading.Event()
        error: list[BaseException] = []
        self._control.put((work, done, error))
        if not done.wait(timeout):
            raise TimeoutError("the pipeline did not take the request in time")
        if error:
            raise error[0]

    def _run_control(self) -> None:
        while True:
            try:
                work, done, error = self._control.get_nowait()
            except queue.Empty:
                return
            try:
                self._with_retry(work)
            except BaseException as exc:
                error.append(exc)
            finally:
                done.set()

    def adopt(self, partition: int, in_partition: Callable[[str], bool]) -> None:
        """Start serving a partition: rebuild its rule state from the database (what the previous owner
        committed), then take its messages. `in_partition` tells whether a community belongs to it."""
        conn = self._connection()
        registry = device_store.device_refs(conn)
        self._registry, self._registry_loaded_at = registry, time.monotonic()
        communities = {d.community for d in registry.values() if in_partition(d.community)}
        self.engine.forget(lambda s: _in(s, registry, in_partition))
        recovery.rebuild(conn, self.engine, registry, datetime.now(UTC), communities)
        self._owned = {*(self._owned or ()), partition}

    def drop(self, partition: int, in_partition: Callable[[str], bool]) -> None:
        """Stop serving a partition: messages of it still queued here are left unacknowledged, so the
        broker gives them to the next owner, and its rule state goes."""
        if self._owned is not None:
            self._owned.discard(partition)
        registry = self._registry
        self.engine.forget(lambda s: _in(s, registry, in_partition))

    def _owned_only(self, batch: list[Inbound]) -> list[Inbound]:
        owned = self._owned
        if owned is None or all(m.partition in owned for m in batch):
            return batch
        return [m for m in batch if m.partition in owned]

    def _over_limit(self, batch: list[Inbound]) -> dict[int, str]:
        """Decided once per message, before any retry, so a batch retried after a database error refuses
        exactly what it refused the first time. Keyed by `id()` of the message."""
        if self._limit is None:
            return {}
        out: dict[int, str] = {}
        for m in batch:
            device_id = m.topic.rsplit("/", 2)[-2] if m.topic.count("/") >= 2 else m.topic
            if not self._limit.allow(device_id, m.received_at.timestamp()):
                out[id(m)] = f"rate_limited: device {device_id} sent more than its limit"
                now = time.monotonic()
                if now - self._limit_logged.get(device_id, -60.0) >= 60.0:
                    self._limit_logged[device_id] = now
                    log.warning(
                        "device %s is over its rate limit; excess messages are dead-lettered", device_id
                    )
        return out

    def _process_or_isolate(self, batch: list[Inbound], limited: dict[int, str] | None = None) -> None:
        """A bug must not stop ingest: on an unexpected error the batch is retried message by message, and
        a message that still fails is dead-lettered with the error (kept, acknowledged, countable)."""
        try:
            self.process(batch, limited)
            return
        except psycopg.Error:
            raise
        except Exception:
            log.exception(
                "unexpected error in a batch of %d; isolating the message(s) that cause it", len(batch)
            )
        for m in batch:
            try:
                self.process([m], limited)
            except psycopg.Error:
                raise
            except Exception as exc:
                reason = f"internal error: {type(exc).__name__}: {exc}"[:500]
                with self._connection().transaction():
                    deadletters.insert(
                        self._connection(),
                        [
                            (
                                m.received_at,
                                m.topic,
                                m.client_id,
                                reason,
                                m.payload[: self._dl_bytes],
                                len(m.payload),
                            )
                        ],
                    )
                self._ack([m])
                self.metrics.received += 1
                self.metrics.dead_lettered += 1

    def _tick_now(self) -> None:
        try:
            self.tick(datetime.now(UTC))
        except psycopg.Error:
            raise
        except Exception:
            log.exception("unexpected error while letting time pass for the rules; trying again next tick")

    def _with_retry(self, work: Callable[[], None]) -> None:
        delay = 0.2
        while True:
            try:
                work()
                return
            except psycopg.Error as exc:
                self.metrics.db_errors += 1
                log.warning("database write failed (%s); retrying in %.1fs, nothing acknowledged", exc, delay)
                self._drop_connection()
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, connect_timeout=5, autocommit=True)
            ensure_staging(self._conn)
            self.metrics.db_reconnects += 1
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _devices(self, conn: psycopg.Connection[Any], wanted: set[str]) -> dict[str, DeviceRef]:
        """The registry cache: devices it does not know are looked up as their messages arrive (a device
        registered a moment ago is not refused), and all of it is reloaded every minute for changes to
        known devices (moved to another building, say)."""
        if time.monotonic() - self._registry_loaded_at > 60.0:
            self._registry = device_store.device_refs(conn)
            self._registry_loaded_at = time.monotonic()
        elif unknown := wanted - self._registry.keys():
            self._registry.update(device_store.device_refs(conn, unknown))
        return self._registry

    def process(self, batch: list[Inbound], limited: dict[int, str] | None = None) -> None:
        conn = self._connection()
        now = datetime.now(UTC)
        wanted = {m.topic.rsplit("/", 2)[-2] for m in batch}
        registry = self._devices(conn, wanted)
        self._swap_rules()
        rows: dict[Table, list[tuple[Any, ...]]] = {}
        readings: dict[tuple[str, str, datetime, int], Reading] = {}
        seen: dict[str, device_store.StateUpdate] = {}
        statuses: list[tuple[str, Status, datetime]] = []
        rejects: list[tuple[Inbound, str]] = []
        for m in batch:
            if limited and id(m) in limited:
                rejects.append((m, limited[id(m)]))
                continue
            result = decode(m.topic, m.payload, prefix=self._prefix, registry=registry, now=now)
            if isinstance(result, Rejected):
                rejects.append((m, result.reason))
                continue
            self._route(result, m, rows, readings, seen, statuses)

        flush_state = bool(statuses) or time.monotonic() >= self._state_flush_at
        if flush_state:
            # a copy only when writing, so a failed transaction leaves the pending state as it was
            pending = _merged(self._state_pending.copy(), seen)
        started = time.perf_counter()
        with conn.transaction():
            new_readings: list[Reading] = []
            offered = stored = 0
            for table, table_rows in rows.items():
                offered += len(table_rows)
                new_keys = insert_new(conn, table, table_rows)
                stored += len(new_keys)
                new_readings += [readings[(table.name, *k)] for k in new_keys if (table.name, *k) in readings]
            if flush_state:
                device_store.record_seen(conn, pending.values())
            for device_id, status, at in statuses:
                self._apply_status(conn, device_id, status, at)
            if rejects:
                deadletters.insert(
                    conn,
                    [
                        (
                            m.received_at,
                            m.topic,
                            m.client_id,
                            reason,
                            m.payload[: self._dl_bytes],
                            len(m.payload),
                        )
                        for m, reason in rejects
                    ],
                )
            # a reading makes the device's frozen alerts live again before it may clear one of them
            data_gaps.readings_arrived(conn, {r.device.id for r in new_readings}, now)
            evaluation = self.engine.evaluate(sorted(new_readings, key=lambda r: r.ts))
            self._apply_transitions(conn, evaluation)
        self.engine.commit(evaluation)
        if flush_state:
            self._state_written()
        else:
            _merged(self._state_pending, seen)
        elapsed = time.perf_counter() - started
        self.metrics.commit_seconds_sum += elapsed
        self.metrics.commit_seconds_max = max(self.metrics.commit_seconds_max, elapsed)
        self._ack(batch)
        self._count(batch, offered, stored, rejects, evaluation)

    def _route(
        self,
        result: Accepted,
        m: Inbound,
        rows: dict[Table, list[tuple[Any, ...]]],
        readings: dict[tuple[str, str, datetime, int], Reading],
        seen: dict[str, device_store.StateUpdate],
        statuses: list[tuple[str, Status, datetime]],
    ) -> None:
        device, p = result.device, result.payload
        if isinstance(p, Status):
            statuses.append((device.id, p, m.received_at))
            return
        head = (p.ts, device.id, p.seq, m.received_at, device.community)
        values: dict[str, Any] | None = None
        if result.channel is Channel.TELEMETRY:
            table = TELEMETRY_TABLES[device.kind]
            values = p.__dict__
            rows.setdefault(table, []).append(head + tuple(values[c] for c in table.columns))
            readings[(table.name, device.id, p.ts, p.seq)] = Reading(device, p.ts, values)
        elif isinstance(p, AccessEvent):
            rows.setdefault(ACCESS_EVENTS, []).append(
                (*head, p.result, p.method, p.direction, self._pseudonym(p.person_ref))
            )
            access: dict[str, Any] = {
                "event": p.event,
                "result": p.result,
                "method": p.method,
                "direction": p.direction,
            }
            readings[(ACCESS_EVENTS.name, device.id, p.ts, p.seq)] = Reading(device, p.ts, access, "event")
        elif isinstance(p, DeviceEvent):
            rows.setdefault(DEVICE_EVENTS, []).append((*head, p.event, p.held_s, p.count))
            event: dict[str, Any] = {"event": p.event, "held_s": p.held_s, "count": p.count}
            readings[(DEVICE_EVENTS.name, device.id, p.ts, p.seq)] = Reading(device, p.ts, event, "event")
        seen[device.id] = _state_update(device, p, m.received_at, values, seen.get(device.id))

    def _flush_state(self) -> None:
        conn = self._connection()
        with conn.transaction():
            device_store.record_seen(conn, self._state_pending.values())
        self._state_written()

    def _state_written(self) -> None:
        self._state_pending = {}
        self._state_flush_at = time.monotonic() + self._state_flush_s

    def _pseudonym(self, person_ref: str | None) -> str | None:
        """A keyed hash: stable per person for counting and follow-up, useless without the key."""
        if person_ref is None:
            return None
        return hmac.new(self._pkey, person_ref.encode(), hashlib.sha256).hexdigest()[:32]

    def _apply_status(
        self, conn: psycopg.Connection[Any], device_id: str, status: Status, at: datetime
    ) -> None:
        if status.state == "offline":
            device_store.set_offline(conn, [device_id], at, "device reported offline (last will or status)")
            data_gaps.device_silent(conn, [device_id], at, "device reported offline (last will or status)")
        else:
            device_store.record_seen(conn, [device_store.StateUpdate(device_id, at, None, None, None, None)])

    def _apply_transitions(self, conn: psycopg.Connection[Any], evaluation: Evaluation) -> None:
        for t in evaluation.transitions:
            if isinstance(t, AlertOpened):
                dispatch.alert_opened(conn, t)
            else:
                cases.on_alert_cleared(conn, t)

    def swap_rules(self, rules: list[Rule]) -> None:
        """Called from another thread (reload); the pipeline thread applies it between batches."""
        self._pending_rules = rules

    def _swap_rules(self) -> None:
        rules, self._pending_rules = self._pending_rules, None
        if rules is not None:
            self.engine.replace_rules(rules)
            log.info("rules reloaded: %d rule(s) in force", len(rules))

    def tick(self, now: datetime) -> None:
        """Let time pass for rules that fire on silence, and freeze the open alerts of devices silent
        longer than the no-data gap; written like a batch, in one transaction."""
        self._swap_rules()
        evaluation = self.engine.tick(now)
        with self._connection().transaction():
            self._apply_transitions(self._connection(), evaluation)
            data_gaps.silent_longer_than(self._connection(), now, self._no_data_after_s)
        self.engine.commit(evaluation)
        self.metrics.alerts_opened += sum(isinstance(t, AlertOpened) for t in evaluation.transitions)
        self.metrics.alerts_cleared += sum(not isinstance(t, AlertOpened) for t in evaluation.transitions)

    def _count(
        self,
        batch: list[Inbound],
        offered: int,
        stored: int,
        rejects: list[tuple[Inbound, str]],
        evaluation: Evaluation,
    ) -> None:
        mt = self.metrics
        mt.received += len(batch)
        mt.stored += stored
        mt.duplicates += offered - stored
        mt.dead_lettered += len(rejects)
        for _, reason in rejects:
            key = reason.split(":", 1)[0].split(" ", 1)[0]
            mt.dead_letter_reasons[key] = mt.dead_letter_reasons.get(key, 0) + 1
        mt.batches += 1
        mt.batch_rows_sum += len(batch)
        mt.alerts_opened += sum(isinstance(t, AlertOpened) for t in evaluation.transitions)
        mt.alerts_cleared += sum(not isinstance(t, AlertOpened) for t in evaluation.transitions)


def _in(subject: str, registry: dict[str, DeviceRef], in_partition: Callable[[str], bool]) -> bool:
    community = subject_community(subject, registry)
    return community is not None and in_partition(community)


def _merged(
    pending: dict[str, device_store.StateUpdate], seen: dict[str, device_store.StateUpdate]
) -> dict[str, device_store.StateUpdate]:
    """`pending` updated in place with `seen`, keeping per device the update with the higher sequence."""
    for device_id, new in seen.items():
        old = pending.get(device_id)
        if old is None or old.last_seq is None or new.last_seq is None or old.last_seq <= new.last_seq:
            pending[device_id] = new
    return pending


def _state_update(
    device: DeviceRef,
    p: DevicePayload,
    received_at: datetime,
    values: dict[str, Any] | None,
    previous: device_store.StateUpdate | None,
) -> device_store.StateUpdate:
    if previous is not None and previous.last_seq is not None and previous.last_seq > p.seq:
        return previous
    last_values = None
    if values is not None:
        last_values = json.dumps(
            {k: v for k, v in values.items() if k not in _ENVELOPE} | {"ts": p.ts.isoformat()}
        )
    battery = values.get("battery_pct") if values is not None else None
    rssi = values.get("rssi_dbm") if values is not None else None
    return device_store.StateUpdate(device.id, received_at, p.seq, battery, rssi, last_values)
