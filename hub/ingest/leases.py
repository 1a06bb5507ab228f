"""Which ingest partitions this worker serves, kept in step with the other workers through leases.

Each partition is one persistent MQTT session with a fixed client id, so the session follows the lease:
the worker that takes a partition over connects under that id and the broker hands it whatever the
previous owner left unacknowledged, plus what queued meanwhile. The new owner rebuilds the partition's
rule state from the database before it takes a message. A worker that dies stops renewing; its leases
expire and the others share its partitions.
"""

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Sequence
from functools import partial

from psycopg_pool import ConnectionPool

from hub.ingest.adapted import AdapterSet
from hub.ingest.inbound import Inbound
from hub.ingest.metrics import IngestMetrics
from hub.ingest.mqtt import MqttSource
from hub.ingest.partitions import fair_share, partition_of
from hub.ingest.pipeline import Pipeline
from hub.settings import Settings
from hub.store import partitions as store

log = logging.getLogger(__name__)


class Partitions:
    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool,
        pipeline: Pipeline,
        inbox: "queue.Queue[Inbound]",
        metrics: IngestMetrics,
        adapters: AdapterSet | None = None,
    ) -> None:
        self._settings = settings
        self._adapters = adapters
        self._pool = pool
        self._pipeline = pipeline
        self._inbox = inbox
        self._metrics = metrics
        self.count = settings.ingest_partitions
        self.worker = settings.worker_name
        self._sources: dict[int, MqttSource] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="partitions", daemon=True)

    def start(self) -> None:
        if not self._settings.ingest_enabled:
            log.info("ingest is off on this worker (HUB_INGEST_ENABLED=false): API and jobs only")
            return
        self.cycle()
        self._thread.start()

    def owned(self) -> list[int]:
        with self._lock:
            return sorted(self._sources)

    def status(self) -> str:
        """For the health check: `subscribed` once every partition this worker holds is subscribed (a
        standby holding none is too), `off` on an API-only worker."""
        if not self._settings.ingest_enabled:
            return "off"
        with self._lock:
            ready = all(s.subscribed.is_set() for s in self._sources.values())
        return "subscribed" if ready else "waiting for broker"

    def sessions(self) -> dict[int, bool]:
        """The partitions this worker serves: whether each one's MQTT session is subscribed."""
        with self._lock:
            return {p: s.subscribed.is_set() for p, s in sorted(self._sources.items())}

    def ack(self, messages: Sequence[Inbound]) -> None:
        by_partition: dict[int, list[int]] = defaultdict(list)
        for m in messages:
            if m.qos > 0:
                by_partition[m.partition].append(m.mid)
        with self._lock:
            for p, mids in by_partition.items():
                source = self._sources.get(p)
                if source is not None:
                    source.ack(mids)

    def stop_accepting(self) -> None:
        self._stop.set()
        with self._lock:
            for source in self._sources.values():
                source.stop_accepting()

    def close(self) -> None:
        """After the pipeline has flushed: disconnect every session and hand the partitions back at once,
        so another worker need not wait for the leases to expire."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            sources, self._sources = self._sources, {}
        for source in sources.values():
            source.close()
        try:
            with self._pool.connection() as conn:
                store.release(conn, self.worker, sources)
                store.leave(conn, self.worker)
        except Exception:
            log.warning("could not release the ingest leases; they expire by themselves", exc_info=True)

    def cycle(self) -> None:
        s = self._settings
        with self._pool.connection() as conn:
            workers = store.heartbeat(conn, self.worker, s.lease_ttl_s)
            held = store.renew(conn, self.worker, s.lease_ttl_s, self.count)
            communities = store.communities(conn)
        for p in set(self.owned()) - held:
            log.warning("lost the lease on ingest partition %d; another worker has it now", p)
            self._give_up(p)
        target = fair_share(self.count, workers)
        keep = set(sorted(held)[:target])
        surplus = held - keep
        for p in surplus:
            self._give_up(p)
        with self._pool.connection() as conn:
            if surplus:
                store.release(conn, self.worker, surplus)
                log.info(
                    "handed ingest partitions %s to other workers (%d workers)", sorted(surplus), workers
                )
            if len(keep) < target and not self._stop.is_set():
                keep |= store.claim(conn, self.worker, s.lease_ttl_s, self.count, target - len(keep))
        for p in sorted(keep - set(self.owned())):
            self._take(p, communities)
        with self._lock:
            for p, source in self._sources.items():
                source.add_topics(self._topics(p, communities))

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.lease_renew_s):
            try:
                self.cycle()
            except Exception:
                log.exception("ingest lease cycle failed; trying again")

    def _in_partition(self, p: int, community: str) -> bool:
        return partition_of(community, self.count) == p

    def _topics(self, p: int, communities: list[str]) -> list[str]:
        """Vendor topics name no community, so partition 0 takes every MQTT adapter's topic filter; an
        adapter added later is subscribed at the next lease cycle."""
        prefix = self._settings.topic_prefix
        vendor = self._adapters.topic_filters() if self._adapters is not None and p == 0 else []
        if self.count == 1:
            return [f"{prefix}/+/+/+/+", *vendor]
        return [f"{prefix}/{c}/+/+/+" for c in communities if self._in_partition(p, c)] + vendor

    def _client_id(self, p: int) -> str:
        base = self._settings.mqtt_client_id
        return base if self.count == 1 else f"{base}-p{p:03d}"

    def _take(self, p: int, communities: list[str]) -> None:
        if self._stop.is_set():
            return
        self._pipeline.between_batches(partial(self._pipeline.adopt, p, partial(self._in_partition, p)))
        source = MqttSource(
            self._settings,
            self._inbox,
            self._metrics,
            client_id=self._client_id(p),
            topics=self._topics(p, communities),
            partition=p,
            on_listening=self._pipeline.listening,
        )
        with self._lock:
            self._sources[p] = source
        source.start()
        log.info("serving ingest partition %d as MQTT session %s", p, self._client_id(p))

    def _give_up(self, p: int) -> None:
        with self._lock:
            source = self._sources.pop(p, None)
        if source is not None:
            source.stop_accepting()
            source.close()
        self._pipeline.between_batches(partial(self._pipeline.drop, p, partial(self._in_partition, p)))
