"""The fault suite's rig: its own PostgreSQL cluster (per session), and per test a fresh database, a
private Mosquitto with persistence, a registered fleet, a webhook receiver subscribed to the fleet's
community, the hub as its own process, and the checks every fault ends with.

`HUB_CHAOS_FULL=1` (scripts/chaos, `make chaos`) runs the full-length variant: longer outages and more
messages. Without it the short variant runs, which is what CI runs as part of scripts/test.
"""

import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.notify.webhook import new_secret
from hub.store import subscriptions as subscription_store
from hub.store.migrations import migrate
from tests.chaos import figures
from tests.chaos.cluster import PgCluster, TcpProxy
from tests.chaos.traffic import Device, Traffic, register, wait_for
from tests.support.notify import Receiver
from tests.support.processes import HubProcess
from tests.support.services import Broker

FULL = os.environ.get("HUB_CHAOS_FULL") == "1"
LOADGEN_PW = "chaos-loadgen-pw"
ADMIN_PW = "chaos-admin-pw"
COMMUNITY = "chaos"


@dataclass(frozen=True)
class Scale:
    """How long and how big: the short variant proves the behaviour in CI, the full one measures it."""

    devices: int
    device_rate: float
    """Messages per second per device: the fleet's nominal rate is devices × device_rate."""
    steady_s: float
    """Traffic before and after each fault."""
    down_s: float
    """How long a hub or the broker stays down."""
    db_outage_s: float
    queue_max: int
    """`HUB_INGEST_QUEUE_MAX` while the database is out: well under what the fleet sends meanwhile."""
    webhook_down_s: float
    burst_s: float
    drain_timeout_s: float

    @property
    def nominal_rate(self) -> float:
        return self.devices * self.device_rate


SCALE = (
    Scale(
        devices=200,
        device_rate=1.0,
        steady_s=15,
        down_s=10,
        db_outage_s=60,
        queue_max=1000,
        webhook_down_s=120,
        burst_s=30,
        drain_timeout_s=300,
    )
    if FULL
    else Scale(
        devices=50,
        device_rate=2.0,
        steady_s=3,
        down_s=2,
        db_outage_s=8,
        queue_max=400,
        webhook_down_s=8,
        burst_s=6,
        drain_timeout_s=120,
    )
)
ALARMS = 3


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def figures_file() -> Path:
    """Started afresh in every session that runs a fault, so the table shows this run only."""
    figures.FILE.parent.mkdir(parents=True, exist_ok=True)
    figures.FILE.write_text("")
    return figures.FILE


class Rig:
    """Everything one fault needs. The hub may reach PostgreSQL through `proxy` (for partitions)."""

    def __init__(self, cluster: PgCluster, workdir: Path, figures_path: Path, *, via_proxy: bool) -> None:
        self.cluster = cluster
        self.figures_path = figures_path
        self.dbname = f"chaos_{uuid.uuid4().hex[:10]}"
        self.url = cluster.create_database(self.dbname)
        migrate(self.url)
        self.proxy: TcpProxy | None = None
        hub_url = self.url
        if via_proxy:
            self.proxy = TcpProxy(cluster.port)
            self.proxy.start()
            hub_url = cluster.url(self.dbname, self.proxy.port)
        self.broker = Broker()
        self.broker.start()
        self.receiver = Receiver()
        self.receiver.start()
        self.fleet = [Device(f"chaos-sd{i:04d}", COMMUNITY, "b1") for i in range(SCALE.devices)]
        # one building each, so no correlation rule merges them: one smoke-alarm alert per device expected
        for i in range(ALARMS):
            self.fleet[i] = Device(self.fleet[i].id, COMMUNITY, f"alarm-{i}")
        with psycopg.connect(self.url, autocommit=True) as conn:
            register(conn, self.fleet)
            self.subscription = subscription_store.create(
                conn,
                url=self.receiver.url,
                communities=[COMMUNITY],
                teams=None,
                categories=None,
                min_severity="info",
                max_attempts=10,
                secret=new_secret(),
                created_by=None,
            )
        self.workdir = workdir
        self.hub_url = hub_url
        self.hub = self.new_hub()
        self.traffics: list[Traffic] = []
        self.expected_alerts: set[str] = set()

    def new_hub(self, **env: str) -> HubProcess:
        return HubProcess(
            self.hub_url,
            self.broker,
            self.workdir,
            HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW,
            HUB_ADMIN_PASSWORD=ADMIN_PW,
            **env,
        )

    def traffic(self, devices: list[Device], rate: float, name: str, seq_base: int = 0) -> Traffic:
        t = Traffic(self.broker.port, LOADGEN_PW, devices, rate, name=name, seq_base=seq_base)
        t.start()
        self.traffics.append(t)
        return t

    def alarm(self, traffic: Traffic) -> None:
        ids = [d.id for d in self.fleet[:ALARMS]]
        traffic.raise_alarm(ids)
        self.expected_alerts |= set(ids)

    def alarmed_fleet(self) -> Traffic:
        """The hub started and the fleet at its nominal rate until steady, then the alarms that the fault
        must not lose: where most faults begin."""
        self.hub.start()
        traffic = self.traffic(self.fleet, SCALE.nominal_rate, "fleet")
        self.wait_steady(traffic, SCALE.steady_s)
        self.alarm(traffic)
        return traffic

    def conn(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def scalar(self, sql: str, *params: object) -> int:
        try:
            with self.conn() as c:
                row = c.execute(sql, params).fetchone()
        except psycopg.OperationalError:
            return -1  # the database is the fault right now
        return int(row[0]) if row and row[0] is not None else 0

    def stored_prefix(self, traffic: Traffic, n: int) -> int:
        """How many of the traffic's first `n` messages are stored (each key counted once)."""
        lo = traffic.seq_range()[0]
        return self.scalar(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM telemetry_smoke "
            "WHERE community_id = %s AND seq >= %s AND seq < %s) AS k",
            COMMUNITY,
            lo,
            lo + n,
        )

    def drained(self, traffic: Traffic, n: int) -> bool:
        return self.stored_prefix(traffic, n) >= n

    def recovery(self, traffic: Traffic, since: float, backlog: int) -> float | None:
        """Seconds from `since` (monotonic: the fault removed) until the `backlog` first messages are all
        stored; None if that never happens within the drain timeout."""
        if wait_for(lambda: self.drained(traffic, backlog), SCALE.drain_timeout_s) is None:
            return None
        return time.monotonic() - since

    def metrics(self) -> dict[str, float]:
        """The hub's /metrics as {"name{labels}": value}."""
        headers = self.hub.login("admin", ADMIN_PW)
        text = httpx.get(f"{self.hub.url}/metrics", headers=headers, timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_drained(self, traffic: Traffic, stall_s: float = 20) -> None:
        """Until every acknowledged message is stored, or nothing more arrives for `stall_s`: a loss
        must fail the test in seconds, not hold it for the whole drain timeout."""
        started = time.monotonic()
        last, last_change = -1, started
        while time.monotonic() - started < SCALE.drain_timeout_s:
            n = self.stored_prefix(traffic, traffic.acked)
            if n >= traffic.acked:
                return
            if n != last:
                last, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                return
            time.sleep(0.5)

    def wait_steady(self, traffic: Traffic, seconds: float) -> None:
        """Traffic flowing and stored for `seconds`; fails fast if ingest does not work at all."""
        time.sleep(seconds)
        assert wait_for(lambda: self.drained(traffic, max(traffic.acked // 2, 1)), 60) is not None, (
            self.hub.log()
        )

    def finish(self, fault: str, *, recovery_s: float | None, **extra: Any) -> dict[str, Any]:
        """Stop the traffic, let the hub catch up, count, write the figures line; the caller asserts."""
        for t in self.traffics:
            t.stop()
        for t in self.traffics:
            self.wait_drained(t)
        messages = lost = 0
        missing: list[str] = []
        for t in self.traffics:
            messages += t.acked
            lost += t.acked - self.stored_prefix(t, t.acked)
            missing += self.missing(t)
        duplicated = self.scalar(
            "SELECT count(*) - count(DISTINCT (device_id, time, seq)) FROM telemetry_smoke WHERE community_id = %s",
            COMMUNITY,
        )
        notifications = self.wait_notifications()
        alerts = self.alerts()
        cases = self.scalar("SELECT count(*) FROM cases WHERE community_id = %s", COMMUNITY)
        row = {
            "fault": fault,
            "variant": "full" if FULL else "short",
            "messages": messages,
            "lost": lost,
            "duplicated": duplicated,
            "alerts_expected": len(self.expected_alerts),
            "alerts_raised": sum(alerts.values()),
            "alerts_by_subject": dict(alerts),
            "cases_expected": len(self.expected_alerts),
            "cases_opened": cases,
            "recovery_s": None if recovery_s is None else round(recovery_s, 1),
            "lost_seq_ranges": missing,
            **notifications,
            **extra,
        }
        figures.record(row, self.figures_path)
        return row

    def missing(self, traffic: Traffic) -> list[str]:
        """The acknowledged but unstored seq numbers as ranges: where in the run the loss happened."""
        lo, hi = traffic.seq_range()
        with self.conn() as c:
            rows = c.execute(
                "SELECT min(s), max(s) FROM (SELECT s, s - row_number() OVER (ORDER BY s) AS g "
                "FROM generate_series(%s, %s - 1) AS s WHERE NOT EXISTS (SELECT 1 FROM telemetry_smoke t "
                "WHERE t.community_id = %s AND t.seq = s)) AS m GROUP BY g ORDER BY 1",
                (lo, hi, COMMUNITY),
            ).fetchall()
        return [f"{a}-{b}" for a, b in rows]

    def alerts(self) -> Counter[str]:
        with self.conn() as c:
            rows = c.execute(
                "SELECT rule_id || ' ' || subject FROM alerts WHERE community_id = %s", (COMMUNITY,)
            ).fetchall()
        return Counter(r[0] for r in rows)

    def outbox(self) -> list[tuple[int, str, str]]:
        with self.conn() as c:
            return c.execute(
                "SELECT o.case_event_id, o.channel, o.status FROM notification_outbox o "
                "JOIN case_events e ON e.id = o.case_event_id JOIN cases k ON k.id = e.case_id "
                "WHERE k.community_id = %s",
                (COMMUNITY,),
            ).fetchall()

    def wait_notifications(self) -> dict[str, Any]:
        """Wait until every outbox row of the fleet's cases is delivered and the receiver has every
        webhook event; then count expected (rows) and delivered (rows delivered and, for webhooks,
        received)."""

        def all_delivered() -> bool:
            rows = self.outbox()
            hooks = {e for e, ch, _ in rows if ch == "webhook"}
            return all(s == "delivered" for *_, s in rows) and hooks <= set(self.receiver.event_ids())

        wait_for(all_delivered, SCALE.drain_timeout_s, interval_s=0.5)
        rows = self.outbox()
        received = Counter(self.receiver.event_ids())
        delivered = sum(s == "delivered" and (ch != "webhook" or received[e] > 0) for e, ch, s in rows)
        return {
            "notifications_expected": len(rows),
            "notifications_delivered": delivered,
            "notifications_duplicated": sum(n - 1 for n in received.values()),
            "notifications_dead": sum(s == "dead" for *_, s in rows),
        }

    def check(self, row: dict[str, Any]) -> None:
        """The guarantees every fault is held to."""
        assert row["messages"] > 0
        assert row["lost"] == 0, f"acknowledged messages not stored: {row}\n{self.hub.log()}"
        assert row["duplicated"] == 0, f"messages stored more than once: {row}"
        expected = {f"smoke-alarm {d}": 1 for d in self.expected_alerts}
        assert row["alerts_by_subject"] == expected, "each expected alert raised once, nothing else"
        assert row["cases_opened"] == row["cases_expected"], (
            "one case per alarm: no flood from the fault itself"
        )
        assert row["notifications_expected"] > 0, "the alerts must have produced notifications"
        assert row["notifications_delivered"] == row["notifications_expected"], row
        assert row["notifications_dead"] == 0, row

    def close(self, name: str) -> None:
        """Keeps the hub's and the broker's logs in test-output/chaos/, for reading a failed fault."""
        logs = figures.FILE.parent / "chaos"
        logs.mkdir(parents=True, exist_ok=True)
        for log, suffix in ((self.hub.log_path, "hub"), (self.broker.log_file, "mosquitto")):
            if log.exists():
                shutil.copyfile(log, logs / f"{name}.{suffix}.log")
        for t in self.traffics:
            t.stop(drain_timeout_s=0)
        self.hub.stop()
        self.receiver.stop()
        self.broker.cleanup()
        if self.proxy is not None:
            self.proxy.partition()
        with psycopg.connect(self.cluster.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


@pytest.fixture
def rig_factory(pg_cluster: PgCluster, figures_file: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    rigs: list[Rig] = []
    workdir = Path(tempfile.mkdtemp(prefix="hub-chaos-"))

    def make(*, via_proxy: bool = False) -> Rig:
        rig = Rig(pg_cluster, workdir, figures_file, via_proxy=via_proxy)
        rigs.append(rig)
        return rig

    yield make
    name = request.node.name.replace("/", "_")
    for rig in rigs:
        rig.close(name)
    shutil.rmtree(workdir, ignore_errors=True)
