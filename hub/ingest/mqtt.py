"""The hub's MQTT client. Its callback only hands raw messages to a bounded queue: when the pipeline
falls behind, the callback blocks, paho stops reading, and the broker holds the rest (QoS 1,
persistent session). Messages are acknowledged by the pipeline after commit (manual ack)."""

import logging
import queue
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.broker.failover import Failover
from hub.ingest.client import BatchingClient
from hub.ingest.frames import Publish
from hub.ingest.inbound import Inbound, Inbox
from hub.ingest.metrics import IngestMetrics
from hub.settings import Settings

log = logging.getLogger(__name__)


class MqttSource:
    """One persistent MQTT session: the whole stream, or one ingest partition's communities."""

    def __init__(
        self,
        settings: Settings,
        inbox: "queue.Queue[Inbound]",
        metrics: IngestMetrics,
        *,
        client_id: str,
        topics: Sequence[str],
        partition: int = 0,
        on_listening: Callable[[int, datetime | None], None] | None = None,
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._metrics = metrics
        self.partition = partition
        self._on_listening = on_listening
        self._mid_lock = threading.Lock()
        self._session_mid: int | None = None
        """the subscription that (re)starts the session; one added later for a new community is not
        the hub hearing again"""
        self._topics = list(topics)
        self._topics_lock = threading.Lock()
        self._accepting = threading.Event()
        self._accepting.set()
        self.subscribed = threading.Event()
        v5 = settings.mqtt_protocol == "5"
        c = BatchingClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        c.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
        if settings.mqtt_tls_ca_file is not None:
            c.tls_set(ca_certs=str(settings.mqtt_tls_ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        self._failover = Failover(settings.mqtt_addresses, start=partition)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publishes = self._on_publishes
        c.on_subscribe = self._on_subscribe
        self._client = c

    def start(self) -> None:
        s = self._settings
        host, port = self._failover.current
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.mqtt_session_expiry_s
            self._client.connect_async(
                host, port, keepalive=s.mqtt_keepalive_s, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(host, port, keepalive=s.mqtt_keepalive_s)
        self._client.loop_start()

    def ack(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages once the batch holding them is committed."""
        self._client.ack_many(mids)

    def stop_accepting(self) -> None:
        """Stop taking new messages; the broker keeps (and later redelivers) what is not acknowledged."""
        self._accepting.clear()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._metrics.broker_connects += 1
        log.info("connected to MQTT broker %s:%s", *self._failover.current)
        self._subscribe()

    def _subscribe(self) -> None:
        with self._topics_lock:
            topics = list(self._topics)
        if topics:
            with self._mid_lock:  # the SUBACK may be read before subscribe() returns
                _, self._session_mid = self._client.subscribe([(t, 1) for t in topics])
        else:
            self._listening()

    def add_topics(self, topics: Sequence[str]) -> None:
        """A community registered since the session started: subscribe it now and after reconnects."""
        with self._topics_lock:
            new = [t for t in topics if t not in self._topics]
            self._topics += new
        if new:
            self._client.subscribe([(t, 1) for t in new])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        """A broker whose ACL is not loaded yet refuses the subscription: retry rather than go deaf."""
        if any(r.is_failure for r in reasons):
            log.error("broker refused the subscription (%s); retrying in 2s", reasons)
            retry = threading.Timer(2.0, self._subscribe)
            retry.daemon = True
            retry.start()
            return
        self.subscribed.set()
        with self._mid_lock:
            restarted = mid == self._session_mid
        if restarted:
            self._listening()

    def _listening(self) -> None:
        """Subscribed (after a start, a take-over or a reconnect): from now on the hub hears this
        session's devices, and the broker hands over what it held for it."""
        self.subscribed.set()
        if self._on_listening is not None:
            self._on_listening(self.partition, datetime.now(UTC))

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.subscribed.clear()
        if self._on_listening is not None:
            self._on_listening(self.partition, None)
        if reason.is_failure:
            log.warning(
                "MQTT connection lost (%s); reconnecting to %s:%s", reason, *self._failover.move_on(client)
            )

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        log.warning("MQTT broker unreachable; trying %s:%s next", *self._failover.move_on(client))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting.is_set():
            return
        self._inbox.put(
            Inbound(
                msg.topic, bytes(msg.payload), msg.mid, msg.qos, datetime.now(UTC), partition=self.partition
            )
        )

    def _on_publishes(self, messages: list[Publish]) -> None:
        """The messages of one chunk read from the socket, all received at the same moment."""
        if not self._accepting.is_set():
            return
        now = datetime.now(UTC)
        p = self.partition
        inbound = [Inbound(m.topic, m.payload, m.mid, m.qos, now, None, p) for m in messages]
        if isinstance(self._inbox, Inbox):
            self._inbox.put_many(inbound)
        else:
            for m in inbound:
                self._inbox.put(m)
