"""The hub on a clustered broker: a 3-node RabbitMQ cluster (quorum-queue MQTT sessions, every login and
topic checked through the hub's broker-auth endpoint), two hub workers and publishers on other nodes.
A node dies by kill -9 mid-stream: every message the broker acknowledged is stored exactly once, each
alarm is raised once, and the workers and publishers move to the surviving nodes by themselves."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.devices.service import register
from hub.store.users import upsert_user
from tests.support.cluster import Node, RabbitCluster
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher, smoke
from tests.support.services import migrated_database

pytestmark = pytest.mark.cluster

SECRET = "cluster-auth-secret"
LOADGEN_PW = "cluster-loadgen-pw"
PARTITIONS = 6
COMMUNITIES = [f"rc{i}" for i in range(6)]
DEVICES = [f"{c}-sd{j}" for c in COMMUNITIES for j in range(4)]
ALARMED = [f"{c}-sd0" for c in COMMUNITIES]
TOTAL = 1800


@pytest.fixture
def cluster(rabbit_cluster: RabbitCluster) -> RabbitCluster:
    rabbit_cluster.ensure_up()
    return rabbit_cluster


@pytest.fixture
def db() -> Iterator[str]:
    with migrated_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            register(
                conn,
                [
                    {"id": d, "kind": "smoke_detector", "community": d.split("-")[0], "building": "b1"}
                    for d in DEVICES
                ],
            )
        yield url


@pytest.fixture
def auth_hub(db: str, cluster: RabbitCluster, tmp_path: Path) -> Iterator[HubProcess]:
    """An API-only hub answering the cluster's auth calls from the test's registry."""
    hub = HubProcess(
        db,
        cluster,
        tmp_path,
        HUB_WORKER_ID="auth",
        HUB_INGEST_ENABLED="false",
        HUB_BROKER_AUTH_SECRET=SECRET,
        HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW,
    )
    hub.start()
    cluster.point(f"{hub.url}/api/v1/broker-auth/{SECRET}/rabbitmq")
    try:
        yield hub
    finally:
        hub.stop()


def worker(db: str, cluster: RabbitCluster, tmp_path: Path, name: str, hosts: str) -> HubProcess:
    return HubProcess(
        db,
        cluster,
        tmp_path,
        HUB_MQTT_HOSTS=hosts,
        HUB_MQTT_CLIENT_ID="cluster-hub",
        HUB_INGEST_PARTITIONS=str(PARTITIONS),
        HUB_WORKER_ID=name,
        HUB_LEASE_TTL_S="3",
        HUB_LEASE_RENEW_S="0.5",
    )


def scalar(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def owners(url: str) -> dict[int, str | None]:
    with psycopg.connect(url) as conn:
        return {int(p): o for p, o in conn.execute("SELECT partition, owner FROM ingest_partitions")}


def all_subscribed(hubs: list[HubProcess]) -> bool:
    try:
        return all(
            httpx.get(f"{h.url}/api/v1/health", timeout=2).json()["ingest"] == "subscribed" for h in hubs
        )
    except httpx.HTTPError:
        return False


class Stream:
    """QoS 1 traffic from every device over two loadgen connections on two nodes (about 400 messages a
    second), with each alarmed detector in alarm for the second half."""

    def __init__(self, cluster: RabbitCluster, first_nodes: tuple[int, int]) -> None:
        self.pubs = [
            Publisher(
                0,
                "loadgen",
                LOADGEN_PW,
                addresses=[("127.0.0.1", n.mqtt_port) for n in self._rotated(cluster, i)],
            )
            for i in first_nodes
        ]
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    @staticmethod
    def _rotated(cluster: RabbitCluster, first: int) -> list[Node]:
        return cluster.nodes[first:] + cluster.nodes[:first]

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for n in range(TOTAL):
            d = DEVICES[n % len(DEVICES)]
            alarm = d in ALARMED and n >= TOTAL // 2
            payload = smoke(d, n, smoke_level=4.0 if alarm else 0.1, alarm=alarm)
            topic = f"sc/v1/{d.split('-')[0]}/smoke_detector/{d}/telemetry"
            self.pubs[n % len(self.pubs)].publish(topic, payload, key=(d, n))
            if n % 20 == 0:
                time.sleep(0.05)
        self.done.set()

    def finish(self) -> set[tuple[str, int]]:
        """Wait for the publishers to send everything (they resend what a dead node did not acknowledge);
        the messages the broker acknowledged."""
        self._thread.join(120)
        assert self.done.is_set()
        poll(lambda: all(p.acked >= len(p.sent) for p in self.pubs), timeout=60)
        confirmed = set().union(*(p.confirmed() for p in self.pubs))
        for p in self.pubs:
            p.close()
        return confirmed


def stored(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return [(d, int(s)) for d, s in conn.execute("SELECT device_id, seq FROM telemetry_smoke")]


def check_exactly_once(url: str, confirmed: set[tuple[str, int]]) -> None:
    assert len(confirmed) > TOTAL * 0.9, f"the broker acknowledged most messages ({len(confirmed)})"
    assert poll(lambda: confirmed <= set(stored(url)), timeout=60), (
        f"lost {len(confirmed - set(stored(url)))} acknowledged messages"
    )
    rows = stored(url)
    assert len(rows) == len(set(rows)), "nothing stored twice"
    with psycopg.connect(url) as conn:
        alerts = conn.execute(
            "SELECT subject, count(*) FROM alerts WHERE rule_id = 'smoke-alarm' GROUP BY subject"
        ).fetchall()
    assert dict(alerts) == dict.fromkeys(ALARMED, 1), "each alarm raised once"


def test_the_cluster_refuses_what_the_registry_refuses(
    db: str, cluster: RabbitCluster, auth_hub: HubProcess, tmp_path: Path
) -> None:
    """Wrong password, a topic outside the device's root, a decommissioned device: each refused by the
    broker after asking the hub, with no file written and no broker reloaded."""
    hub = worker(db, cluster, tmp_path, "rw-auth", cluster.addresses())
    with psycopg.connect(db, autocommit=True) as conn:
        upsert_user(conn, "rc-admin", "rc-admin-pw", "admin", [])
    admin = auth_hub.login("rc-admin", "rc-admin-pw")
    creds = {}
    for d in ("rc0-auth1", "rc0-auth2"):
        r = httpx.post(
            f"{auth_hub.url}/api/v1/devices",
            json={"id": d, "kind": "smoke_detector", "community": "rc0"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        creds[d] = r.json()["mqtt_password"]
    node = cluster.nodes[1].mqtt_port
    try:
        hub.start(timeout=60)
        with pytest.raises(ConnectionRefusedError):
            Publisher(node, "rc0-auth1", "wrong-password")
        own = Publisher(node, "rc0-auth1", creds["rc0-auth1"])
        own.publish("sc/v1/rc0/smoke_detector/rc0-auth1/telemetry", smoke("rc0-auth1", 1)).wait_for_publish(
            10
        )
        assert poll(
            lambda: scalar(db, "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'rc0-auth1'"),
            timeout=20,
        )
        assert not refused_publish(
            node, "rc0-auth1", creds["rc0-auth1"], "sc/v1/rc0/smoke_detector/rc0-auth2/telemetry"
        )
        own.close()
        r = httpx.post(f"{auth_hub.url}/api/v1/devices/rc0-auth2/decommission", headers=admin)
        assert r.status_code == 200, r.text
        time.sleep(2.5)  # the nodes' answer cache (scripts/rabbitmq-cluster: 2 s)
        with pytest.raises(ConnectionRefusedError):
            Publisher(node, "rc0-auth2", creds["rc0-auth2"])
        time.sleep(1)
        assert scalar(db, "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'rc0-auth2'") == 0
    finally:
        hub.stop()


def refused_publish(port: int, username: str, password: str, topic: str) -> bool:
    """Publish once outside the device's root without retrying: whether the broker acknowledged it
    (RabbitMQ closes the connection instead)."""
    acked = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-probe", protocol=mqtt.MQTTv311)
    c.username_pw_set(username, password)
    c.on_publish = lambda *_a: acked.set()
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    c.publish(topic, b'{"x": 1}', qos=1)
    got = acked.wait(3)
    c.loop_stop()
    c.disconnect()
    return got


def run_with_a_node_killed(
    db: str,
    cluster: RabbitCluster,
    tmp_path: Path,
    *,
    hosts: str,
    publishers_on: tuple[int, int],
    victim: int,
    restart: bool,
) -> None:
    """`restart`: bring the victim back in the background while the checks run, for the next test."""
    a = worker(db, cluster, tmp_path, "rw-a", hosts)
    b = worker(db, cluster, tmp_path, "rw-b", hosts)
    try:
        a.start(timeout=60)
        b.start(timeout=60)
        assert poll(lambda: len(set(owners(db).values())) == 2 and all_subscribed([a, b]), timeout=30), (
            owners(db)
        )
        stream = Stream(cluster, publishers_on)
        stream.start()
        assert poll(lambda: scalar(db, "SELECT count(*) FROM telemetry_smoke") > TOTAL // 4, timeout=30)
        cluster.kill(victim)
        killed_at = scalar(db, "SELECT count(*) FROM telemetry_smoke")
        confirmed = stream.finish()
        if restart:
            cluster.restart_in_background()
        assert killed_at < TOTAL, "the node died mid-stream"
        check_exactly_once(db, confirmed)
        assert poll(lambda: all_subscribed([a, b]), timeout=30), "the workers recovered by themselves"
        assert a.proc is not None and a.proc.poll() is None and b.proc is not None and b.proc.poll() is None
    finally:
        a.stop()
        b.stop()


def test_a_node_holding_partition_sessions_is_killed_mid_stream(
    db: str, cluster: RabbitCluster, auth_hub: HubProcess, tmp_path: Path
) -> None:
    """Partition p starts on node p % 3, so node 0 holds the sessions of partitions 0 and 3 (their
    connections and, declared there, their quorum queues' leaders); the publishers are on nodes 1 and 2."""
    run_with_a_node_killed(
        db, cluster, tmp_path, hosts=cluster.addresses(), publishers_on=(1, 2), victim=0, restart=True
    )


def test_a_node_the_publishers_use_is_killed_mid_stream(
    db: str, cluster: RabbitCluster, auth_hub: HubProcess, tmp_path: Path
) -> None:
    """The workers' sessions live on nodes 0 and 1; both publishers start on node 2, which dies."""
    run_with_a_node_killed(
        db, cluster, tmp_path, hosts=cluster.addresses(0, 1), publishers_on=(2, 2), victim=2, restart=False
    )
