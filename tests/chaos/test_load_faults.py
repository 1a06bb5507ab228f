"""Faults of load: a receiver of notifications that is down for minutes, one device flooding, and the
whole fleet bursting to ten times its rate. Latency is measured the way the benchmark measures it: a
probe device publishes a reading a second and polls until a query sees it (bench/probe.py)."""

import math
import time
from typing import Any

import psycopg
import pytest

from bench.fleet import Device as ProbeDevice
from bench.probe import Probe
from hub.settings import Settings
from tests.chaos.conftest import COMMUNITY, LOADGEN_PW, SCALE, Rig
from tests.chaos.traffic import Device, register, wait_for

pytestmark = pytest.mark.chaos


def start_probe(rig: Rig) -> Probe:
    """Its own community, so its readings never count in the fleet's loss and duplicate figures."""
    device = ProbeDevice("chaos-probe", "smoke_detector", "chaos-probe", "probe", "g1")
    with psycopg.connect(rig.url, autocommit=True) as conn:
        register(conn, [Device(device.id, device.community, "probe")])
    probe = Probe(rig.url, "127.0.0.1", rig.broker.port, "loadgen", LOADGEN_PW, "sc/v1", device)
    probe.start_publishing(at=time.monotonic())
    return probe


def p99_ms(latencies_s: list[float]) -> float | None:
    """Nearest rank, as bench/ingest.py: with a sample a second, p99 is close to the maximum."""
    if not latencies_s:
        return None
    ordered = sorted(latencies_s)
    return round(1000 * ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 1)


def test_webhook_receiver_down_for_minutes(rig_factory: Any) -> None:
    """With the hub's default backoff (2 s doubling, 10 attempts), a receiver down for minutes gets
    every notification once it is back, each exactly once."""
    rig = rig_factory()
    rig.hub.start()
    traffic = rig.traffic(rig.fleet, SCALE.nominal_rate, "fleet")
    rig.wait_steady(traffic, SCALE.steady_s)
    rig.receiver.stop()
    rig.alarm(traffic)
    time.sleep(SCALE.webhook_down_s)
    pending = [e for e, ch, s in rig.outbox() if ch == "webhook" and s == "pending"]
    since = time.monotonic()
    rig.receiver.start()
    took = wait_for(
        lambda: {e for e, ch, _ in rig.outbox() if ch == "webhook"} <= set(rig.receiver.event_ids()),
        SCALE.drain_timeout_s + 600,
        interval_s=0.5,
    )
    recovery_s = None if took is None else time.monotonic() - since
    row = rig.finish(
        f"webhook receiver down {SCALE.webhook_down_s:.0f} s",
        recovery_s=recovery_s,
        receiver_down_s=SCALE.webhook_down_s,
        pending_when_back=len(pending),
    )
    assert pending, "notifications must have waited for the receiver for this test to mean anything"
    assert row["notifications_duplicated"] == 0, "each notification delivered once"
    rig.check(row)


def test_one_device_flooding_is_rate_limited(rig_factory: Any) -> None:
    """Contract (issue #8): HUB_INGEST_DEVICE_RATE_PER_S / HUB_INGEST_DEVICE_BURST limit each device;
    what is over the limit is dead-lettered with reason `rate_limited` and counted in /metrics, never
    silently dropped, and the other devices' messages are all stored with little extra latency."""
    rig = rig_factory()
    limit = 5 * SCALE.device_rate
    rig.hub = rig.new_hub(
        HUB_INGEST_DEVICE_RATE_PER_S=str(limit), HUB_INGEST_DEVICE_BURST=str(int(2 * limit))
    )
    rig.hub.start()
    probe = start_probe(rig)
    traffic = rig.traffic(rig.fleet, SCALE.nominal_rate, "fleet")
    rig.wait_steady(traffic, SCALE.steady_s * 2)
    before = len(probe.latencies_s)
    flooder = Device("chaos-flooder", COMMUNITY, "flood")
    with psycopg.connect(rig.url, autocommit=True) as conn:
        register(conn, [flooder])
    rig.alarm(traffic)
    flood = rig.traffic([flooder], 100 * SCALE.device_rate, "flooder", seq_base=10_000_000)
    flood_s = SCALE.burst_s * 1.5
    time.sleep(flood_s)
    flood.stop()
    during = len(probe.latencies_s)
    since = time.monotonic()
    recovery_s = rig.recovery(traffic, since, traffic.acked)
    probe.stop()
    lat = probe.latencies_s
    metrics = rig.metrics()
    stored = rig.scalar("SELECT count(*) FROM telemetry_smoke WHERE device_id = %s", flooder.id)
    limited = rig.scalar(
        "SELECT count(*) FROM dead_letters WHERE topic = %s AND reason LIKE 'rate_limited%%'", flooder.topic
    )
    fleet_traffic = rig.traffics
    rig.traffics = [traffic]  # the flooder's excess is dead-lettered by design: it is counted below
    row = rig.finish(
        "one device at 100× its rate",
        recovery_s=recovery_s,
        flooder_sent=flood.acked,
        flooder_stored=stored,
        flooder_rate_limited=limited,
        metrics_rate_limited=metrics.get(
            'hub_ingest_messages_dead_lettered_total{reason="rate_limited"}', 0.0
        ),
        limit_per_s=limit,
        others_p99_before_ms=p99_ms(lat[:before]),
        others_p99_during_ms=p99_ms(lat[before:during]),
        note=f"flooder: {flood.acked} sent, {stored} stored, {limited} dead-lettered as rate_limited",
    )
    rig.traffics = fleet_traffic
    rig.check(row)
    assert "ingest_device_rate_per_s" in Settings.model_fields, (
        "HUB_INGEST_DEVICE_RATE_PER_S is not a hub setting yet: per-device rate limiting is missing"
    )
    assert stored + limited == flood.acked, "every flooder message is stored or dead-lettered, none lost"
    assert limited > 0, "the flooder's excess must be dead-lettered with reason rate_limited"
    assert stored <= limit * (flood_s + 5) + 2 * limit, "no more than the limit (plus the burst) is stored"
    assert row["metrics_rate_limited"] == limited
    before_ms, during_ms = row["others_p99_before_ms"], row["others_p99_during_ms"]
    assert before_ms is not None and during_ms is not None
    assert during_ms <= max(3 * before_ms, 1000.0), "the flood must not hurt the other devices much"


def test_fleet_burst_of_ten_times_its_rate(rig_factory: Any) -> None:
    """Ten times the nominal rate for a while: commit latency rises, nothing is lost, and it comes back
    down once the backlog is worked off."""
    rig = rig_factory()
    rig.hub.start()
    probe = start_probe(rig)
    traffic = rig.traffic(rig.fleet, SCALE.nominal_rate, "fleet")
    rig.wait_steady(traffic, SCALE.steady_s * 2)
    before = len(probe.latencies_s)
    traffic.rate = 10 * SCALE.nominal_rate
    rig.alarm(traffic)
    time.sleep(SCALE.burst_s)
    traffic.rate = SCALE.nominal_rate
    during = len(probe.latencies_s)
    since = time.monotonic()
    recovery_s = rig.recovery(traffic, since, traffic.acked)
    drained = len(probe.latencies_s)
    time.sleep(SCALE.steady_s * 2)
    probe.stop()
    lat = probe.latencies_s
    row = rig.finish(
        f"fleet at 10× rate for {SCALE.burst_s:.0f} s",
        recovery_s=recovery_s,
        nominal_msgs_per_s=SCALE.nominal_rate,
        burst_msgs_per_s=10 * SCALE.nominal_rate,
        p99_commit_before_ms=p99_ms(lat[:before]),
        p99_commit_during_ms=p99_ms(lat[before:during]),
        p99_commit_draining_ms=p99_ms(lat[during:drained]),
        p99_commit_after_ms=p99_ms(lat[drained:]),
        note=(
            f"p99 commit latency before / during / after the backlog: {p99_ms(lat[:before])} / "
            f"{p99_ms(lat[before:drained])} / {p99_ms(lat[drained:])} ms"
        ),
    )
    rig.check(row)
    assert row["p99_commit_after_ms"] is not None, "the probe must have been seen after the burst"
