"""The one wiring of the ingest path: decode → store + evaluate rules → alerts → cases, per batch.

A batch is bounded by rows and by time. It is written in one transaction and its MQTT messages are
acknowledged only after the commit, so a crash at any point leaves the broker to redeliver what was
not committed, and the unique keys make the redelivery land once.

The pipeline thread is the only one that touches rule state and partition ownership; other threads
ask it for changes (`between_batches`, `swap_rules`), which it makes between two batches.
"""

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases import data_gaps, intake
from hub.cases.config import DispatchConfig
from hub.domain.contract import Status
from hub.domain.deadletters import AdapterStep, reason_code
from hub.domain.devices import DeviceRef
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine
from hub.engine.schema import Rule
from hub.ingest import recovery
from hub.ingest.adapted import AdapterSet, RegistryLookup, adapt, originals
from hub.ingest.database import IngestDatabase
from hub.ingest.decode import Accepted, Rejected, decode
from hub.ingest.device_state import Flush, StateBuffer
from hub.ingest.inbound import Ack, Inbound, Inbox, collect
from hub.ingest.metrics import IngestMetrics
from hub.ingest.partitions import subject_community
from hub.ingest.ratelimit import RateGate
from hub.ingest.registry import RegistryCache
from hub.ingest.rows import BatchRows
from hub.ingest.thread_names import name_os_thread
from hub.ingest.topics import origin
from hub.store import adapter_replays, deadletters
from hub.store import devices as device_store
from hub.store.telemetry import insert_new

log = logging.getLogger(__name__)

PIPELINE_THREAD = "ingest-pipeline"
"""The operating system's name for the thread running `Pipeline.run`, given by whoever starts it."""
WRITER_THREAD = "ingest-writer"
"""The operating system's name for the pipeline's writer thread."""

Refusals = dict[int, str]
"""Reasons for refusing messages of a batch before decoding, keyed by `id()` of the message."""


@dataclass(frozen=True)
class PipelineConfig:
    prefix: str
    batch_max_rows: int
    batch_max_delay_s: float
    dead_letter_bytes: int
    pseudonym_key: bytes
    tick_interval_s: float = 1.0
    no_data_after_s: float = 300.0
    state_flush_s: float = 0.0
    state_flush_max_devices: int | None = None
    partitioned: bool = False
    """take only the messages of partitions adopted through `adopt` (leases); else every message"""


class Pipeline:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        database: IngestDatabase,
        engine: Engine,
        inbox: "queue.Queue[Inbound]",
        ack: Ack,
        dispatch: Callable[[], DispatchConfig],
        metrics: IngestMetrics,
        rate_gate: RateGate | None = None,
        adapters: AdapterSet | None = None,
    ) -> None:
        self._cfg = config
        self._db = database
        self.engine = engine
        self._inbox = inbox
        self._ack = ack
        self._dispatch = dispatch
        self.metrics = metrics
        self._rate_gate = rate_gate
        self._adapters = adapters
        self._registry = RegistryCache()
        self._state = StateBuffer(config.state_flush_s, most=config.state_flush_max_devices)
        self._ahead: list[Inbound] = []
        """The next batch, taken from a backlog and decoded while this one's rows were written."""
        self._writer = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="ingest-write",
            initializer=name_os_thread,
            initargs=(WRITER_THREAD,),
        )
        """Writes a batch while the pipeline thread evaluates its rules: the wait for PostgreSQL to take
        the rows (a fifth of a batch's time) overlaps the rules' CPU instead of adding to it."""
        self.idle = threading.Event()
        self._pending_rules: list[Rule] | None = None
        self._next_tick = time.monotonic() + config.tick_interval_s
        self._owned: set[int] | None = set() if config.partitioned else None
        """Partitions whose messages this pipeline takes; None: every message (a single, unleased hub)."""
        self._members: dict[int, Callable[[str], bool]] = {}
        """Per adopted partition: whether a community belongs to it."""
        self._heard: dict[int | None, datetime | None] = {}
        """Partitions (None: all) the hub hears again since when (None: cannot hear now), not yet told
        to the rules."""
        self._heard_lock = threading.Lock()
        self._control: queue.Queue[tuple[Callable[[], None], threading.Event, list[BaseException]]] = (
            queue.Queue()
        )

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set and the inbox is empty."""
        while not (stop.is_set() and self._inbox.empty() and not self._ahead):
            self._run_control()
            batch, self._ahead = self._ahead, []
            if not batch:
                batch = collect(self._inbox, self._cfg.batch_max_rows, self._cfg.batch_max_delay_s)
            batch = self._owned_only(batch)
            self.metrics.queue_depth = self._inbox.qsize()
            if batch:
                self.idle.clear()
                if self._adapters is not None:
                    batch = self._adapted(batch)
                refused = self._rate_gate.over_limit(batch) if self._rate_gate is not None else {}
                self._retrying(functools.partial(self._process_or_isolate, batch, refused))
            else:
                self.idle.set()
                # under load every batch writes what is due itself, a bounded share, overlapped with the
                # rules; a transaction of its own here would hold up the next batch's alerts
                if self._state.due():
                    self._retrying(self._flush_state)
            self._tell_rules_what_was_heard()
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + self._cfg.tick_interval_s
                self._retrying(self._tick_now)
        if self._state.pending:
            self._retrying(functools.partial(self._flush_state, everything=True))
        self._writer.shutdown()
        self._db.close()

    def _retrying(self, work: Callable[[], None]) -> None:
        """While the database was away nothing was acknowledged, so the broker held the devices'
        messages: the hub was deaf, not they silent."""
        if self._db.retrying(work):
            self.listening(None, datetime.now(UTC))

    def listening(self, partition: int | None, since: datetime | None) -> None:
        """From any thread (the MQTT client's, on subscribing or losing the broker): the hub hears
        `partition` (None: every partition) again from `since`, or (None) cannot hear it now; the rules
        learn it between batches."""
        with self._heard_lock:
            self._heard[partition] = since

    def _tell_rules_what_was_heard(self) -> None:
        with self._heard_lock:
            heard, self._heard = self._heard, {}
        for partition, since in heard.items():
            member = self._members.get(partition) if partition is not None else None
            if partition is not None and member is None and self._owned is not None:
                continue
            self.engine.listening(member or _every, since)

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
                self._retrying(work)
            except BaseException as exc:
                error.append(exc)
            finally:
                done.set()

    def adopt(self, partition: int, in_partition: Callable[[str], bool]) -> None:
        """Start serving a partition: rebuild its rule state from the database (what the previous owner
        committed), then take its messages. `in_partition` tells whether a community belongs to it."""
        conn = self._db.connection()
        registry = self._registry.reload(conn)
        communities = {d.community for d in registry.values() if in_partition(d.community)}
        self.engine.forget(lambda s: _in(s, registry, in_partition))
        recovery.rebuild(conn, self.engine, registry, datetime.now(UTC), self._dispatch(), communities)
        self._owned = {*(self._owned or ()), partition}
        self._members[partition] = in_partition

    def drop(self, partition: int, in_partition: Callable[[str], bool]) -> None:
        """Stop serving a partition: messages of it still queued here are left unacknowledged, so the
        broker gives them to the next owner, and its rule state goes."""
        if self._owned is not None:
            self._owned.discard(partition)
        self._members.pop(partition, None)
        registry = self._registry.devices
        self.engine.forget(lambda s: _in(s, registry, in_partition))

    def _adapted(self, batch: list[Inbound]) -> list[Inbound]:
        """Vendor messages mapped by their adapters before the rate limit, so a mapped message counts
        against its device's limit like a native one."""
        adapters = self._adapters
        assert adapters is not None
        out: list[list[Inbound]] = []

        def work() -> None:
            lookup = RegistryLookup(self._db.connection(), self._registry)
            out.append(adapt(batch, adapters, lookup, self._cfg.prefix))

        self._retrying(work)
        return out[-1]

    def _owned_only(self, batch: list[Inbound]) -> list[Inbound]:
        owned = self._owned
        if owned is None or all(m.partition in owned for m in batch):
            return batch
        return [m for m in batch if m.partition in owned]

    def _process_or_isolate(self, batch: list[Inbound], refused: Refusals) -> None:
        """A bug must not stop ingest: on an unexpected error the batch is retried message by message, and
        a message that still fails is dead-lettered with the error (kept, acknowledged, countable)."""
        try:
            self.process(batch, refused)
            return
        except psycopg.Error:
            raise
        except Exception:
            log.exception(
                "unexpected error in a batch of %d; isolating the message(s) that cause it", len(batch)
            )
        for m in batch:
            try:
                self.process([m], refused)
            except psycopg.Error:
                raise
            except Exception as exc:
                conn = self._db.connection()
                with conn.transaction():
                    self._dead_letter(conn, [(m, f"internal error: {type(exc).__name__}: {exc}"[:500])])
                self._acknowledge([m])
                self.metrics.received += 1
                self.metrics.dead_lettered += 1

    def _dead_letter(self, conn: psycopg.Connection[Any], refused: list[tuple[Inbound, str]]) -> None:
        size, prefix = self._cfg.dead_letter_bytes, self._cfg.prefix
        deadletters.insert(
            conn,
            [_dead_letter(m, why, size, prefix) for m, why in refused],
        )

    def _acknowledge(self, batch: list[Inbound]) -> None:
        """After the commit: the broker's messages acknowledged, each once, and HTTP pushes answered."""
        delivered = originals(batch)
        self._ack(delivered)
        for m in delivered:
            if m.committed is not None:
                m.committed.set()

    def _tick_now(self) -> None:
        try:
            self.tick(datetime.now(UTC))
        except psycopg.Error:
            raise
        except Exception:
            log.exception("unexpected error while letting time pass for the rules; trying again next tick")

    def process(self, batch: list[Inbound], refused: Refusals | None = None) -> None:
        conn = self._db.connection()
        now = datetime.now(UTC)
        registry = self._registry.covering(conn, {m.topic.rsplit("/", 2)[-2] for m in batch})
        self._forget_retired()
        self._swap_rules()
        dispatch = self._dispatch()
        sorted_rows = BatchRows(self._cfg.pseudonym_key)
        rejects: list[tuple[Inbound, str]] = []
        for m in batch:
            if m.refused_at is not None:
                rejects.append((m, m.refusal))
                continue
            if refused and id(m) in refused:
                rejects.append((m, refused[id(m)]))
                continue
            early = m.decoded
            result = (
                early
                if early is not None and registry.get(early.device.id) is early.device
                else decode(m.topic, m.payload, prefix=self._cfg.prefix, registry=registry, now=now)
            )
            if isinstance(result, Rejected):
                rejects.append((m, result.reason))
            else:
                sorted_rows.add(result, m.received_at, m.adapter)

        readings = sorted_rows.readings()
        started = time.perf_counter()
        with conn.transaction():
            writes = self._writer.submit(self._write, conn, sorted_rows, rejects, batch, now)
            try:
                # every reading is new in almost every batch: evaluate the rules while PostgreSQL takes the rows
                evaluation = self.engine.evaluate(sorted(readings, key=_device_time))
                self._decode_ahead()
            finally:
                offered, new_readings, flush = writes.result()
            if len(new_readings) < len(readings):
                evaluation = self.engine.evaluate(sorted(new_readings, key=_device_time))
            # a reading makes the device's frozen alerts live again before it may clear one of them
            data_gaps.readings_arrived(conn, {r.device.id for r in new_readings}, now)
            intake.apply(conn, evaluation.transitions, dispatch, now)
        self.engine.commit(evaluation)
        self._state.committed(flush, sorted_rows.seen)
        self.metrics.count_commit(time.perf_counter() - started)
        self._acknowledge(batch)
        self.metrics.count_batch(len(batch), offered, len(new_readings), [why for _, why in rejects])
        self.metrics.count_transitions(evaluation.transitions)

    def _write(
        self,
        conn: psycopg.Connection[Any],
        rows: BatchRows,
        rejects: list[tuple[Inbound, str]],
        batch: list[Inbound],
        now: datetime,
    ) -> tuple[int, list[Reading], Flush]:
        """A batch's rows, device state, dead letters and replay marks, inside the caller's transaction;
        returns how many rows were offered, the readings whose rows were new and the state written."""
        new_readings: list[Reading] = []
        offered = 0
        for table, of_table in rows.tables.items():
            offered += len(of_table.rows)
            readings = of_table.readings
            new_keys = insert_new(conn, table, of_table.rows, readings.keys())
            if len(new_keys) == len(readings):
                new_readings += readings.values()
            else:
                new_readings += [readings[k] for k in new_keys if k in readings]
        flush = self._state.plan(rows.seen, {device_id for device_id, _, _ in rows.statuses})
        device_store.record_seen(conn, flush.updates)
        for device_id, status, at in rows.statuses:
            _apply_status(conn, device_id, status, at)
        if rejects:
            self._dead_letter(conn, rejects)
        if replayed := sorted({m.replay_of for m in batch if m.replay_of is not None}):
            adapter_replays.mark_replayed(conn, replayed, now)
        return offered, new_readings, flush

    def _decode_ahead(self) -> None:
        """Under a backlog (a full batch waiting), take the next batch now and decode it while
        PostgreSQL takes this one's rows, which the pipeline thread would otherwise only wait for. It
        touches no connection (the writer thread holds it) and decides nothing: the rate limit,
        adapters and partition changes still come before it is processed, and a decoding is used only
        while the registry entry it was checked against is still the one in force (a reload replaces
        every entry), so a device registered or retired meanwhile is decoded again."""
        inbox = self._inbox
        if self._ahead or not isinstance(inbox, Inbox) or inbox.qsize() < self._cfg.batch_max_rows:
            return
        self._ahead = inbox.take(self._cfg.batch_max_rows)
        registry, prefix, now = self._registry.devices, self._cfg.prefix, datetime.now(UTC)
        try:
            for m in self._ahead:
                result = decode(m.topic, m.payload, prefix=prefix, registry=registry, now=now)
                m.decoded = result if isinstance(result, Accepted) else None
        except Exception:
            log.exception("decoding ahead failed; the batch is decoded again when it is processed")

    def _forget_retired(self) -> None:
        """A decommissioned device's rule state goes, so its silence raises no alert."""
        if retired := self._registry.take_retired():
            self.engine.forget(retired.__contains__)

    def _flush_state(self, everything: bool = False) -> None:
        flush = self._state.plan({}, everything=everything)
        conn = self._db.connection()
        with conn.transaction():
            device_store.record_seen(conn, flush.updates)
        self._state.committed(flush, {})

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
        conn = self._db.connection()
        self._registry.covering(conn, set())
        self._forget_retired()
        evaluation = self.engine.tick(now)
        with conn.transaction():
            intake.apply(conn, evaluation.transitions, self._dispatch(), now)
            data_gaps.silent_longer_than(conn, now, self._cfg.no_data_after_s)
        self.engine.commit(evaluation)
        self.metrics.count_transitions(evaluation.transitions)


def _dead_letter(m: Inbound, why: str, size: int, prefix: str) -> deadletters.DeadLetter:
    """A message an adapter refused, or mapped and the native checks refused, is kept as the vendor sent
    it, whole, with the adapter and the step: what a replay maps again."""
    if m.adapter is None:
        return deadletters.DeadLetter(
            m.received_at,
            m.topic,
            m.client_id,
            why,
            m.payload[:size],
            len(m.payload),
            origin(m.topic, prefix),
        )
    vendor = m.vendor or m
    step = m.refused_at or (
        AdapterStep.RATE_LIMIT if reason_code(why) == "rate_limited" else AdapterStep.CONTRACT
    )
    return deadletters.DeadLetter(
        m.received_at,
        vendor.topic,
        m.client_id,
        why,
        vendor.payload[:size],
        len(vendor.payload),
        origin(m.topic, prefix) if m.vendor is not None else None,
        m.adapter,
        step.value,
        vendor.payload,
    )


def _apply_status(conn: psycopg.Connection[Any], device_id: str, status: Status, at: datetime) -> None:
    if status.state == "offline":
        device_store.set_offline(conn, [device_id], at, "device reported offline (last will or status)")
        data_gaps.device_silent(conn, [device_id], at, "device reported offline (last will or status)")
    else:
        device_store.record_seen(conn, [device_store.StateUpdate(device_id, at, None, None, None, None)])


def _device_time(r: Reading) -> datetime:
    return r.ts


def _every(_community: str) -> bool:
    return True


def _in(subject: str, registry: dict[str, DeviceRef], in_partition: Callable[[str], bool]) -> bool:
    community = subject_community(subject, registry)
    return community is not None and in_partition(community)
