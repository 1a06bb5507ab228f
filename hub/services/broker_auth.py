"""What a clustered broker asks the hub about each MQTT client, answered from the registry at the moment
of asking: may it log in, may it enter the virtual host, may it publish to or subscribe to a topic.

Nothing is written to the broker, so a rotated password or a decommissioned device is refused at its next
connect (once the broker's own short answer cache has expired). The questions are broker-neutral; the
routes translate RabbitMQ's `auth_backend_http` calls and EMQX's HTTP authentication and authorization
into them.
"""

import hmac
import threading
import time
from typing import Any

import psycopg

from hub.adapters.schema import Adapter
from hub.broker.auth import covered, hash_password, verify_password
from hub.devices import service as registry
from hub.domain.broker import Action, Grants
from hub.settings import Settings
from hub.store import devices as device_store

_ADAPTERS_TTL_S = 5.0
_UNKNOWN_USER_HASH = hash_password("no such account")
"""Checked against for an unknown username, so a refusal takes as long whether or not the name exists."""
MQTT_QUEUE_PREFIX = "mqtt-subscription-"
"""RabbitMQ's MQTT plugin keeps each client's subscriptions in a queue named by this and its client id."""


class BrokerAuth:
    """One per API process. The adapter files (vendor topics) are read at most every few seconds."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._adapters: list[Adapter] = []
        self._adapters_at = -_ADAPTERS_TTL_S

    def _mqtt_adapters(self) -> list[Adapter]:
        with self._lock:
            if time.monotonic() - self._adapters_at >= _ADAPTERS_TTL_S:
                self._adapters = registry.mqtt_adapters_of(self._settings)
                self._adapters_at = time.monotonic()
            return self._adapters

    def login(self, conn: psycopg.Connection[Any], username: str, password: str) -> bool:
        """The configured password of a system account, or the stored hash of a device in service; both
        compared in constant time."""
        for a in registry.system_accounts(self._settings, self._mqtt_adapters()):
            if hmac.compare_digest(username.encode(), a.username.encode()):
                return hmac.compare_digest(password.encode(), a.password.get_secret_value().encode())
        found = device_store.broker_credential(conn, username)
        return verify_password(password, found[2] if found else _UNKNOWN_USER_HASH) and found is not None

    def grants(self, conn: psycopg.Connection[Any], username: str) -> Grants | None:
        adapters = self._mqtt_adapters()
        for a in registry.system_accounts(self._settings, adapters):
            if a.username == username:
                return Grants(username, a.write_topics, a.read_topics)
        found = device_store.broker_credential(conn, username)
        if found is None:
            return None
        account = registry.device_account(self._settings, adapters, username, found)
        return Grants(username, account.write_topics, account.read_topics)

    def may_enter(self, conn: psycopg.Connection[Any], username: str, vhost: str) -> bool:
        return vhost == self._settings.broker_vhost and self.grants(conn, username) is not None

    def may(self, conn: psycopg.Connection[Any], username: str, action: Action, topic: str) -> bool:
        """Publish: the topic lies under one of the account's write filters. Subscribe: every topic the
        requested filter can match lies under one of its read filters (a device reads nothing)."""
        g = self.grants(conn, username)
        if g is None:
            return False
        return covered(g.write_topics if action is Action.PUBLISH else g.read_topics, topic)

    def may_use_resource(
        self, conn: psycopg.Connection[Any], username: str, vhost: str, kind: str, name: str, permission: str
    ) -> bool:
        """RabbitMQ's own objects behind MQTT: publishing writes to the topic exchange; a subscription
        declares, fills and reads the client's `mqtt-subscription-…` queue and reads the exchange. Only an
        account that reads anything may have a queue; the topic check then narrows what it binds."""
        if vhost != self._settings.broker_vhost:
            return False
        g = self.grants(conn, username)
        if g is None:
            return False
        if kind == "exchange" and name == "amq.topic":
            return bool(g.write_topics) if permission == "write" else bool(g.read_topics)
        if kind == "queue" and name.startswith(MQTT_QUEUE_PREFIX):
            return bool(g.read_topics)
        return False
