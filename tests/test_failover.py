"""Broker addresses for a clustered broker: parsed with a clear error, and gone round on failure by the
hub and the simulators."""

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from device_simulators.mqtt import Connection, Counters
from hub.broker.failover import Failover, parse_addresses
from hub.settings import Settings
from tests.support.processes import HubProcess
from tests.support.services import Broker, free_port, migrated_database


def test_addresses_parse_and_a_bad_one_is_named() -> None:
    assert parse_addresses(" a:1, b.example:1883 ,") == [("a", 1), ("b.example", 1883)]
    for bad in ("a", "a:", ":1", "a:x", "a:70000"):
        with pytest.raises(ValueError, match="is not host:port"):
            parse_addresses(f"ok:1,{bad}")
    with pytest.raises(ValidationError, match="HUB_MQTT_HOSTS: 'b' is not host:port"):
        Settings(mqtt_hosts="a:1,b")


def test_settings_fall_back_to_host_and_port() -> None:
    assert Settings(mqtt_host="h", mqtt_port=2).mqtt_addresses == [("h", 2)]
    assert Settings(mqtt_hosts="a:1,b:2").mqtt_addresses == [("a", 1), ("b", 2)]


def test_a_client_is_pointed_at_the_next_node_round_the_list() -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    f = Failover([("a", 1), ("b", 2), ("c", 3)], start=4)
    assert f.current == ("b", 2), "sessions spread over the nodes by their start"
    assert f.move_on(client) == ("c", 3)
    assert (client.host, client.port) == ("c", 3), "paho's next connect goes there"
    assert f.move_on(client) == ("a", 1)
    with pytest.raises(ValueError, match="no broker address"):
        Failover([])


def test_the_hub_and_a_simulated_device_get_past_a_dead_first_address(broker: Broker, tmp_path: Path) -> None:
    """Real Mosquitto behind a first address where nothing listens: both move on to the next one."""
    dead = free_port()
    hosts = f"127.0.0.1:{dead},127.0.0.1:{broker.port}"
    with migrated_database() as url:
        hub = HubProcess(url, broker, tmp_path, HUB_MQTT_HOSTS=hosts, HUB_MQTT_LOADGEN_PASSWORD="fo-loadgen")
        try:
            hub.start(timeout=30)
            assert f"trying 127.0.0.1:{broker.port} next" in hub.log()
            link = Connection("fo-sim", "loadgen", "fo-loadgen", parse_addresses(hosts), counters=Counters())
            assert link.connected.wait(15), link.refused
            link.close()
        finally:
            hub.stop()
