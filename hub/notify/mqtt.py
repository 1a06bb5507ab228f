"""Per-team case topics (`hub/teams/{team}/cases`, QoS 1) on a broker connection of their own.

Its own client (id `<HUB_MQTT_CLIENT_ID>-notify-<worker>`) keeps notifications out of ingest's persistent
session and flow control; the worker's name in it keeps the workers of one hub from taking each other's
connection (a broker drops the older of two connections with one client id). A notification counts as delivered on the broker's PUBACK; one not acknowledged in time is
retried from the outbox, so a subscriber may see it twice and must deduplicate by `event_id`.
"""

import logging
import re
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.failover import Failover
from hub.notify.errors import DeliveryError
from hub.settings import Settings

log = logging.getLogger(__name__)

# A topic level may not hold wildcards or a separator: "a/b" would publish somewhere else entirely.
_TEAM = re.compile(r"^[^/+#\x00]{1,100}$")


def team_topic(team: str) -> str:
    if not _TEAM.match(team):
        raise DeliveryError(f"team {team!r} cannot be an MQTT topic level", permanent=True)
    return f"hub/teams/{team}/cases"


class TeamPublisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{settings.mqtt_client_id}-notify-{settings.worker_name}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
        if settings.mqtt_tls_ca_file is not None:
            c.tls_set(ca_certs=str(settings.mqtt_tls_ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        self._failover = Failover(settings.mqtt_addresses)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        self._client = c

    def start(self) -> None:
        host, port = self._failover.current
        self._client.connect_async(host, port, keepalive=self._settings.mqtt_keepalive_s)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, team: str, body: bytes, timeout_s: float) -> None:
        """Return once the broker acknowledged (PUBACK); raise DeliveryError otherwise."""
        topic = team_topic(team)
        if not self._client.is_connected():
            raise DeliveryError("not connected to the MQTT broker")
        info = self._client.publish(topic, body, qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"no PUBACK for {topic} within {timeout_s:g}s")

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        self._failover.move_on(client)

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        """A lost node: the next try goes to the next broker address."""
        if reason.is_failure:
            self._failover.move_on(client)

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("notification MQTT connection refused: %s", reason)
