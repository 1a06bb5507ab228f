"""Faults of the processes around the data: the hub, PostgreSQL and Mosquitto going away mid-stream.

Each test runs steady QoS 1 traffic, raises smoke alarms close to the fault (so alerts, cases and their
notifications are in flight when it hits), injects the fault, measures how long the hub takes to work
off the backlog once the fault is removed, and ends with the suite's checks (Rig.check).
"""

import signal
import time
from typing import Any

import pytest

from tests.chaos.conftest import SCALE, rss_mb

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize(
    ("sig", "fault"),
    [(signal.SIGKILL, "hub SIGKILL + restart"), (signal.SIGTERM, "hub SIGTERM + restart")],
    ids=["killed", "stopped"],
)
def test_hub_killed_or_stopped_then_restarted(rig_factory: Any, sig: signal.Signals, fault: str) -> None:
    rig = rig_factory()
    traffic = rig.alarmed_fleet()
    time.sleep(1.0)
    assert rig.hub.proc is not None
    rig.hub.proc.send_signal(sig)
    rig.hub.proc.wait(30)
    stored_at_stop = rig.stored_prefix(traffic, traffic.acked)
    time.sleep(SCALE.down_s)
    backlog, since = traffic.acked, time.monotonic()
    rig.hub.start()
    recovery_s = rig.recovery(traffic, since, backlog)
    time.sleep(SCALE.steady_s)
    row = rig.finish(fault, recovery_s=recovery_s, down_s=SCALE.down_s)
    assert stored_at_stop < row["messages"], "the hub must have stopped mid-stream"
    rig.check(row)


def test_postgres_restarted_mid_stream(rig_factory: Any) -> None:
    rig = rig_factory()
    traffic = rig.alarmed_fleet()
    time.sleep(0.5)
    rig.cluster.restart()
    backlog, since = traffic.acked, time.monotonic()
    recovery_s = rig.recovery(traffic, since, backlog)
    time.sleep(SCALE.steady_s)
    assert rig.hub.proc is not None and rig.hub.proc.poll() is None, "the hub rides out the restart"
    errors = rig.metrics()["hub_ingest_db_errors_total"]
    row = rig.finish("PostgreSQL restart", recovery_s=recovery_s, db_errors=errors)
    assert errors > 0, "the restart must have hit the hub's writer for this test to mean anything"
    rig.check(row)


def test_postgres_unreachable_backpressure_then_recovery(rig_factory: Any) -> None:
    """The hub holds at most HUB_INGEST_QUEUE_MAX messages plus one batch; beyond that its MQTT callback
    blocks and the broker keeps the rest, unacknowledged. When the database is back it must drain the
    backlog without help (no restart, no operator)."""
    rig = rig_factory(via_proxy=True)
    queue_max = SCALE.queue_max
    rig.hub = rig.new_hub(HUB_INGEST_QUEUE_MAX=str(queue_max))
    rig.hub.start()
    assert rig.proxy is not None and rig.hub.proc is not None
    pid = rig.hub.proc.pid
    traffic = rig.traffic(rig.fleet, SCALE.nominal_rate, "fleet")
    rig.wait_steady(traffic, SCALE.steady_s)
    rss_before = rss_mb(pid)
    rig.proxy.partition()
    cut_at, acked_at_cut = time.monotonic(), traffic.acked
    rig.alarm(traffic)
    rss_peak = rss_before
    while time.monotonic() - cut_at < SCALE.db_outage_s:
        rss_peak = max(rss_peak, rss_mb(pid))
        time.sleep(0.5)
    acked_during = traffic.acked - acked_at_cut
    stored_during = rig.stored_prefix(traffic, traffic.acked) - rig.stored_prefix(traffic, acked_at_cut)
    rig.proxy.heal()
    backlog, since = traffic.acked, time.monotonic()
    recovery_s = rig.recovery(traffic, since, backlog)
    time.sleep(SCALE.steady_s)
    assert rig.hub.proc.poll() is None, "the hub must recover by itself"
    row = rig.finish(
        f"PostgreSQL unreachable {SCALE.db_outage_s:.0f} s",
        recovery_s=recovery_s,
        outage_s=SCALE.db_outage_s,
        queue_max=queue_max,
        acked_by_broker_during_outage=acked_during,
        stored_during_outage=stored_during,
        hub_rss_growth_mb=round(rss_peak - rss_before, 1),
    )
    assert acked_during > queue_max, "more traffic than the hub's bound, so the broker had to hold some"
    assert stored_during == 0, "the partition must have stopped every write"
    assert row["hub_rss_growth_mb"] < 50, "the hub buffers within its bound, not in unbounded memory"
    rig.check(row)


def test_mosquitto_restarted_under_a_running_hub(rig_factory: Any) -> None:
    """Publishers and the hub both lose the broker and reconnect; the hub's session (persistent, QoS 1
    subscription) must come back from the broker's persistence file."""
    rig = rig_factory()
    traffic = rig.alarmed_fleet()
    rig.broker.stop()
    time.sleep(SCALE.down_s)
    rig.broker.start()
    # the publishers resend what was not acknowledged, so the backlog is everything published so far
    backlog, since = traffic.published, time.monotonic()
    recovery_s = rig.recovery(traffic, since, backlog)
    time.sleep(SCALE.steady_s)
    row = rig.finish(
        "Mosquitto restart, hub connected",
        recovery_s=recovery_s,
        publisher_connections=traffic.connections,
        broker_restart_at_seq=backlog,
    )
    rig.check(row)


def test_mosquitto_restarted_while_the_hub_is_away(rig_factory: Any) -> None:
    """Messages queued for the stopped hub's persistent session survive the broker's restart only on
    disk; the hub must get every one of them when it comes back."""
    rig = rig_factory()
    traffic = rig.alarmed_fleet()
    time.sleep(1.0)
    rig.hub.stop()
    hub_gone = traffic.acked
    time.sleep(SCALE.down_s)
    rig.broker.stop()
    queued = traffic.acked - hub_gone
    time.sleep(1)
    rig.broker.start()
    time.sleep(SCALE.down_s)
    backlog, since = traffic.published, time.monotonic()
    rig.hub.start()
    recovery_s = rig.recovery(traffic, since, backlog)
    time.sleep(SCALE.steady_s)
    row = rig.finish(
        "Mosquitto restart, hub away",
        recovery_s=recovery_s,
        queued_for_stopped_hub=queued,
        hub_stopped_at_seq=hub_gone,
        hub_started_at_seq=backlog,
    )
    assert queued > 0
    rig.check(row)
