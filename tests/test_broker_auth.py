"""The endpoints a clustered broker calls to authenticate and authorize MQTT clients, over real HTTP to a
hub process, answered from the registry: RabbitMQ's auth_backend_http form calls and EMQX's JSON ones."""

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from hub.store.users import upsert_user
from tests.support.processes import HubProcess, running_hub

SECRET = "broker-auth-test-secret"
LOADGEN_PW = "ba-loadgen-pw"
ROOT = "sc/v1/bac/smoke_detector"


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(
        database_url,
        tmp_path_factory.mktemp("broker-auth"),
        HUB_BROKER_AUTH_SECRET=SECRET,
        HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW,
    ) as process:
        yield process


@pytest.fixture(scope="module")
def devices(hub: HubProcess, setup_conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Device id → its MQTT password, registered through the API as an installer would."""
    upsert_user(setup_conn, "ba-admin", "ba-admin-pw", "admin", [])
    admin = hub.login("ba-admin", "ba-admin-pw")
    out = {}
    for d in ("ba-sd1", "ba-sd2", "ba-sd3"):
        body = {"id": d, "kind": "smoke_detector", "community": "bac"}
        r = httpx.post(f"{hub.url}/api/v1/devices", json=body, headers=admin)
        assert r.status_code == 201, r.text
        out[d] = r.json()["mqtt_password"]
    return out


def rabbit(hub: HubProcess, path: str, secret: str = SECRET, **form: str) -> httpx.Response:
    return httpx.post(f"{hub.url}/api/v1/broker-auth/{secret}/rabbitmq/{path}", data=form)


def said(hub: HubProcess, path: str, **form: str) -> str:
    r = rabbit(hub, path, **form)
    assert r.status_code == 200, r.text
    return r.text


def topic(hub: HubProcess, user: str, permission: str, routing_key: str, vhost: str = "hub") -> str:
    return said(
        hub,
        "topic",
        username=user,
        vhost=vhost,
        resource="topic",
        name="amq.topic",
        permission=permission,
        routing_key=routing_key,
    )


def test_a_device_logs_in_with_its_registered_password_only(hub: HubProcess, devices: dict[str, str]) -> None:
    assert said(hub, "user", username="ba-sd1", password=devices["ba-sd1"]) == "allow"
    assert said(hub, "user", username="ba-sd1", password=devices["ba-sd2"]) == "deny"
    assert said(hub, "user", username="ba-nobody", password=devices["ba-sd1"]) == "deny"
    assert said(hub, "vhost", username="ba-sd1", vhost="hub", ip="127.0.0.1") == "allow"
    assert said(hub, "vhost", username="ba-sd1", vhost="/", ip="127.0.0.1") == "deny"


def test_a_device_publishes_under_its_own_root_and_reads_nothing(
    hub: HubProcess, devices: dict[str, str]
) -> None:
    own = f"{ROOT}/ba-sd1/telemetry".replace("/", ".")
    assert topic(hub, "ba-sd1", "write", own) == "allow"
    assert topic(hub, "ba-sd1", "write", own.replace("ba-sd1", "ba-sd2")) == "deny", "another device's root"
    assert topic(hub, "ba-sd1", "write", "sc.v1.other.smoke_detector.ba-sd1.telemetry") == "deny"
    assert topic(hub, "ba-sd1", "write", own, vhost="/") == "deny"
    assert topic(hub, "ba-sd1", "read", own) == "deny", "a device reads nothing"
    resource = {"username": "ba-sd1", "vhost": "hub"}
    assert (
        said(hub, "resource", **resource, resource="exchange", name="amq.topic", permission="write")
        == "allow"
    )
    assert (
        said(hub, "resource", **resource, resource="exchange", name="amq.topic", permission="read") == "deny"
    )
    queue = {"resource": "queue", "name": "mqtt-subscription-ba-sd1qos1"}
    assert said(hub, "resource", **resource, **queue, permission="configure") == "deny"


def test_the_hub_reads_every_device_and_the_load_generator_writes_them(hub: HubProcess) -> None:
    assert said(hub, "user", username="hub", password=hub.mqtt_password) == "allow"
    assert said(hub, "user", username="hub", password="not-it") == "deny"
    assert topic(hub, "hub", "read", "sc.v1.*.*.*.*") == "allow"
    assert topic(hub, "hub", "read", "sc.v1.bac.*.*.*") == "allow"
    assert topic(hub, "hub", "read", "#") == "deny", "only under the prefix"
    assert topic(hub, "hub", "write", "sc.v1.bac.smoke_detector.ba-sd1.telemetry") == "deny"
    hub_queue = {"username": "hub", "vhost": "hub", "resource": "queue", "name": "mqtt-subscription-hubqos1"}
    for permission in ("configure", "write", "read"):
        assert said(hub, "resource", **hub_queue, permission=permission) == "allow"
    assert said(hub, "user", username="loadgen", password=LOADGEN_PW) == "allow"
    assert topic(hub, "loadgen", "write", "sc.v1.anywhere.lamppost.x1.telemetry") == "allow"
    assert topic(hub, "loadgen", "read", "sc.v1.#") == "deny"


def test_a_rotated_password_and_a_decommissioned_device_are_refused_at_once(
    hub: HubProcess, devices: dict[str, str]
) -> None:
    admin = hub.login("ba-admin", "ba-admin-pw")
    old = devices["ba-sd3"]
    r = httpx.post(f"{hub.url}/api/v1/devices/ba-sd3/credentials", headers=admin)
    assert r.status_code == 200, r.text
    new = r.json()["mqtt_password"]
    assert said(hub, "user", username="ba-sd3", password=old) == "deny"
    assert said(hub, "user", username="ba-sd3", password=new) == "allow"
    assert httpx.post(f"{hub.url}/api/v1/devices/ba-sd3/decommission", headers=admin).status_code == 200
    assert said(hub, "user", username="ba-sd3", password=new) == "deny"
    own = f"{ROOT}/ba-sd3/telemetry".replace("/", ".")
    assert topic(hub, "ba-sd3", "write", own) == "deny"


def test_emqx_asks_the_same_questions_in_json(hub: HubProcess, devices: dict[str, str]) -> None:
    base = f"{hub.url}/api/v1/broker-auth/{SECRET}/emqx"
    authn = httpx.post(f"{base}/authn", json={"username": "ba-sd2", "password": devices["ba-sd2"]})
    assert authn.json() == {"result": "allow"}
    wrong = httpx.post(f"{base}/authn", json={"username": "ba-sd2", "password": "nope"})
    assert wrong.json() == {"result": "deny"}

    def authz(t: str, action: str) -> Any:
        return httpx.post(f"{base}/authz", json={"username": "ba-sd2", "topic": t, "action": action}).json()

    assert authz(f"{ROOT}/ba-sd2/event", "publish") == {"result": "allow"}
    assert authz(f"{ROOT}/ba-sd1/event", "publish") == {"result": "deny"}
    assert authz(f"{ROOT}/ba-sd2/#", "subscribe") == {"result": "deny"}
    bad = httpx.post(f"{base}/authz", json={"username": "ba-sd2"})
    assert bad.status_code == 400 and "topic" in bad.text


def test_only_a_caller_with_the_secret_reaches_the_endpoint(hub: HubProcess, devices: dict[str, str]) -> None:
    r = rabbit(hub, "user", secret="guess", username="ba-sd1", password=devices["ba-sd1"])
    assert r.status_code == 404
    missing = rabbit(hub, "topic", username="ba-sd1", vhost="hub")
    assert missing.status_code == 400 and "routing_key" in missing.text


def test_a_flood_of_auth_calls_is_cut_off_with_429(database_url: str, tmp_path: Any) -> None:
    with running_hub(
        database_url,
        tmp_path,
        HUB_BROKER_AUTH_SECRET=SECRET,
        HUB_BROKER_AUTH_RATE_PER_S="1",
        HUB_BROKER_AUTH_BURST="5",
    ) as hub:
        codes = [rabbit(hub, "user", username="x", password="y").status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and 429 in codes[5:], codes
