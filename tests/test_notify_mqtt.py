"""Per-team MQTT notifications through a real Mosquitto with the hub's ACL: `hub/#` is the hub's to write."""

import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.auth import BrokerAccount, hash_password, write_auth_files
from hub.notify.drainer import Drainer
from hub.notify.errors import DeliveryError
from hub.notify.mqtt import TeamPublisher
from hub.store import db
from tests.support.notify import add_case, add_event, drain_until, notify_settings, outbox_rows
from tests.support.processes import poll
from tests.support.services import Broker, migrated_database

HUB_PASSWORD = "hub-notify-pw"
WATCHER_PASSWORD = "watcher-pw"


class Watcher:
    """A team's dashboard: subscribes on every (re)connect, as a clean-session client must."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="team-watcher", protocol=mqtt.MQTTv311)
        c.username_pw_set("watcher", WATCHER_PASSWORD)
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        c.on_connect = lambda client, *_: client.subscribe("hub/teams/+/cases", qos=1)
        c.on_subscribe = lambda *_: self.subscribed.set()
        c.on_disconnect = lambda *_: self.subscribed.clear()
        c.on_message = lambda _c, _u, m: self.messages.put((m.topic, json.loads(m.payload)))
        c.connect_async("127.0.0.1", port, keepalive=5)
        c.loop_start()
        self.client = c

    def next_for(self, event_id: int, timeout: float = 10) -> str:
        while True:
            topic, payload = self.messages.get(timeout=timeout)
            if payload["event_id"] == event_id:
                return topic

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of this module's own: every case event with a team leaves an MQTT row, so in the
    session's database a drainer would also claim rows of other tests and its counts would not be ours."""
    with migrated_database() as url:
        yield url


@pytest.fixture
def team_broker(broker: Broker) -> Broker:
    write_auth_files(
        broker.auth_dir,
        [
            BrokerAccount("hub", hash_password(HUB_PASSWORD), write_topics=("hub/#",)),
            BrokerAccount("watcher", hash_password(WATCHER_PASSWORD), read_topics=("hub/teams/#",)),
        ],
        None,
    )
    broker.reload()
    return broker


def mqtt_status(conn: psycopg.Connection[Any], event_id: int) -> tuple[str, int, str | None]:
    ((_, _, _, status, attempts, error),) = [r for r in outbox_rows(conn, [event_id]) if r[1] == "mqtt"]
    return status, attempts, error


@pytest.fixture
def drainer(database_url: str, team_broker: Broker) -> Iterator[Drainer]:
    """The hub's drainer, its MQTT publisher logged in to the team broker with the hub's account."""
    settings = notify_settings(
        database_url, mqtt_port=team_broker.port, mqtt_password=HUB_PASSWORD, mqtt_client_id="notify-test"
    )
    publisher = TeamPublisher(settings)
    publisher.start()
    try:
        with db.make_pool(database_url) as pool:
            d = Drainer(pool, settings, publisher)
            try:
                yield d
            finally:
                d.close()
    finally:
        publisher.close()


def test_case_events_reach_the_team_topic_on_puback_and_survive_a_broker_outage(
    conn: psycopg.Connection[Any], team_broker: Broker, drainer: Drainer
) -> None:
    watcher = Watcher(team_broker.port)
    try:
        assert watcher.subscribed.wait(10)
        event = add_event(conn, add_case(conn, "ntf-mqtt", team="water-ops"))
        delivered = drain_until(drainer, lambda: mqtt_status(conn, event)[0] == "delivered", timeout=10)
        assert delivered == 1, "one batch, one row"
        assert mqtt_status(conn, event) == ("delivered", 1, None)
        assert watcher.next_for(event) == "hub/teams/water-ops/cases"

        team_broker.stop()
        down = add_event(conn, add_case(conn, "ntf-mqtt", team="water-ops"))
        assert drain_until(drainer, lambda: mqtt_status(conn, down)[1] >= 1, timeout=10) == 1
        status, attempts_down, error = mqtt_status(conn, down)
        assert (status, attempts_down) == ("pending", 1)
        assert error is not None

        team_broker.start()
        assert watcher.subscribed.wait(15)
        retried = drain_until(drainer, lambda: mqtt_status(conn, down)[0] == "delivered", timeout=15)
        status, attempts, error = mqtt_status(conn, down)
        assert (status, error) == ("delivered", None)
        assert retried == attempts - attempts_down >= 1, "each row handled was a retry of this one"
        assert watcher.next_for(down) == "hub/teams/water-ops/cases"
    finally:
        watcher.close()


def test_a_team_that_cannot_be_a_topic_level_is_dead_at_once(
    conn: psycopg.Connection[Any], drainer: Drainer
) -> None:
    event = add_event(conn, add_case(conn, "ntf-mqtt", team="ops/#"))
    assert drain_until(drainer, lambda: mqtt_status(conn, event)[0] == "dead", timeout=10) == 1
    status, attempts, error = mqtt_status(conn, event)
    assert (status, attempts) == ("dead", 1)
    assert error is not None and "topic level" in error


def delivered(publisher: TeamPublisher) -> bool:
    try:
        publisher.publish("water-ops", b"{}", timeout_s=1)
    except DeliveryError:
        return False
    return True


def test_two_workers_of_one_hub_publish_side_by_side(database_url: str, team_broker: Broker) -> None:
    """Workers share HUB_MQTT_CLIENT_ID; were their notifiers one client id, the broker would drop one
    connection each time the other connected and they would take turns being offline."""
    publishers = [
        TeamPublisher(
            notify_settings(
                database_url,
                mqtt_port=team_broker.port,
                mqtt_password=HUB_PASSWORD,
                mqtt_client_id="shared-hub",
                worker_id=name,
            )
        )
        for name in ("w1", "w2")
    ]
    for p in publishers:
        p.start()
    try:
        for p in publishers:
            assert poll(lambda p=p: delivered(p), timeout=10), "each notifier connects"
        failures: list[str] = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            failures += [name for name, p in zip(("w1", "w2"), publishers, strict=True) if not delivered(p)]
            time.sleep(0.1)
        assert failures == [], f"the workers' notifiers displaced each other: {failures}"
    finally:
        for p in publishers:
            p.close()
