"""The outbox drainer: claims due notifications, hands them to their receivers, records the outcome.

Delivery is at least once: a row is marked delivered only after the receiver took it, so a crash or a
lost acknowledgement means it is sent again. Receivers deduplicate by event id.
"""

import json
import logging
import math
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from hub.notify import webhook
from hub.notify.errors import DeliveryError
from hub.notify.mqtt import TeamPublisher
from hub.settings import Settings
from hub.store import outbox
from hub.store.outbox import Claimed

log = logging.getLogger(__name__)


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential with jitter, so receivers coming back are not hit by every hub at the same instant."""
    ceiling = min(max_s, base_s * 2.0 ** min(attempt - 1, 62))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def body_of(row: Claimed) -> bytes:
    return json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()


class Drainer:
    def __init__(self, pool: ConnectionPool, settings: Settings, publisher: TeamPublisher | None) -> None:
        self._pool = pool
        self._settings = settings
        self._publisher = publisher
        self._channels = ["webhook", "mqtt"] if publisher is not None else ["webhook"]
        self._senders = ThreadPoolExecutor(settings.notify_concurrency, thread_name_prefix="notify-send")
        # Long enough for a whole batch to time out at every receiver; after it another drainer may retry.
        rounds = math.ceil(settings.notify_batch_size / settings.notify_concurrency)
        self._lease_s = 2 * settings.notify_timeout_s * rounds + 10

    def drain_once(self) -> int:
        """One batch; returns how many rows it handled (a full batch means more may be waiting)."""
        s = self._settings
        with self._pool.connection() as conn:
            batch = outbox.claim_due(
                conn,
                channels=self._channels,
                limit=s.notify_batch_size,
                lease_s=self._lease_s,
                mqtt_max_attempts=s.notify_mqtt_max_attempts,
            )
        if not batch:
            return 0
        failures = list(self._senders.map(self._deliver, batch))
        with self._pool.connection() as conn:
            for row, failure in zip(batch, failures, strict=True):
                if failure is None:
                    outbox.mark_delivered(conn, row)
                elif failure.permanent or row.attempts >= row.max_attempts:
                    log.warning(
                        "notification %d (%s) is dead after %d attempt(s): %s",
                        row.id,
                        row.channel,
                        row.attempts,
                        failure,
                    )
                    outbox.mark_failed(conn, row, str(failure), None)
                else:
                    retry = backoff_s(row.attempts, s.notify_backoff_base_s, s.notify_backoff_max_s)
                    log.info(
                        "notification %d (%s) attempt %d/%d failed: %s; retry in %.1fs",
                        row.id,
                        row.channel,
                        row.attempts,
                        row.max_attempts,
                        failure,
                        retry,
                    )
                    outbox.mark_failed(conn, row, str(failure), retry)
        return len(batch)

    def run(self, stop: threading.Event) -> None:
        idle_s = self._settings.notify_poll_interval_ms / 1000
        while not stop.is_set():
            try:
                handled = self.drain_once()
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("notification drainer cannot reach the database: %s", exc)
                stop.wait(max(idle_s, 1.0))
                continue
            except Exception:
                # One bad batch must not end every notification; its rows come back when their lease ends.
                log.exception("notification drainer failed; continuing")
                stop.wait(max(idle_s, 1.0))
                continue
            if handled < self._settings.notify_batch_size:
                stop.wait(idle_s)

    def close(self) -> None:
        self._senders.shutdown(wait=True)

    def _deliver(self, row: Claimed) -> DeliveryError | None:
        timeout_s = self._settings.notify_timeout_s
        try:
            if row.channel == "webhook":
                assert row.url is not None, "a webhook row has a subscription"
                assert row.secret is not None, "a webhook row has a subscription"
                event = f"test-{row.id}" if row.event_id is None else str(row.event_id)
                webhook.post(row.url, row.secret, event, body_of(row), timeout_s)
            else:
                assert self._publisher is not None, "mqtt rows are claimed only with a publisher"
                self._publisher.publish(str(row.payload["team"]), body_of(row), timeout_s)
        except DeliveryError as exc:
            return exc
        return None


class DrainerThread:
    """The drainer and its MQTT connection as the hub process runs them, started and stopped together."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self._publisher = TeamPublisher(settings)
        self._drainer = Drainer(pool, settings, self._publisher)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drainer.run, args=(self._stop,), name="notify-drainer")

    def start(self) -> None:
        self._publisher.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._drainer.close()
        self._publisher.close()
