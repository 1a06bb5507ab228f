"""Clock skew and late data, against the policy in README "Rules" and the `late`/`clock-skew` faults:

- every reading is stored with the device's time (`time`) and the hub's receive time (`received_at`);
- up to 10 minutes ahead of the hub clock is stored, further ahead is dead-lettered; up to 30 days old
  is stored, older is dead-lettered;
- rules run on device time, and a reading older than the last one a rule evaluated for that device is
  stored without changing the rule's state: a late alarm after newer quiet readings raises nothing,
  while a device whose only readings arrive late (a buffer flushed after an outage) does alarm.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from bench.wire import Publisher, encode_topic
from tests.chaos.conftest import COMMUNITY, LOADGEN_PW, SCALE
from tests.chaos.traffic import Device, reading, register

pytestmark = pytest.mark.chaos

FAST = Device("chaos-fast5m", COMMUNITY, "skew-fast")
TOO_FAST = Device("chaos-fast15m", COMMUNITY, "skew-too-fast")
LATE_AFTER_NEWER = Device("chaos-late-after-newer", COMMUNITY, "late-1")
BUFFERED = Device("chaos-buffered-2h", COMMUNITY, "late-2")
TOO_OLD = Device("chaos-31d", COMMUNITY, "late-3")
SEQ = 20_000_000


def test_clock_skew_and_late_data_follow_the_policy(rig_factory: Any) -> None:
    rig = rig_factory()
    with psycopg.connect(rig.url, autocommit=True) as conn:
        register(conn, [FAST, TOO_FAST, LATE_AFTER_NEWER, BUFFERED, TOO_OLD])
    rig.alarmed_fleet()
    now = datetime.now(UTC)
    sent: list[tuple[Device, int, datetime, bool]] = [
        (FAST, SEQ + 1, now + timedelta(minutes=5), False),
        (FAST, SEQ + 2, now + timedelta(minutes=5, seconds=1), True),
        (TOO_FAST, SEQ + 3, now + timedelta(minutes=15), True),
        (LATE_AFTER_NEWER, SEQ + 4, now, False),
        (LATE_AFTER_NEWER, SEQ + 5, now - timedelta(hours=2), True),
        (BUFFERED, SEQ + 6, now - timedelta(hours=2), False),
        (BUFFERED, SEQ + 7, now - timedelta(hours=2) + timedelta(seconds=1), True),
        (TOO_OLD, SEQ + 8, now - timedelta(days=31), True),
    ]
    pub = Publisher(
        "127.0.0.1", rig.broker.port, client_id="chaos-skew", username="loadgen", password=LOADGEN_PW
    )
    for device, seq, at, alarm in sent:
        # one at a time: the late reading must reach the hub after the newer one it is late against
        pub.publish_many([(encode_topic(device.topic), reading(device, seq, at, alarm=alarm))], qos=1)
        assert pub.wait_acked(10)
        time.sleep(0.3)
    pub.close()
    published_at = datetime.now(UTC)
    time.sleep(SCALE.steady_s)
    rig.expected_alerts |= {FAST.id, BUFFERED.id}
    with rig.conn() as c:
        stored = {
            (r[0], r[1]): (r[2], r[3])
            for r in c.execute(
                "SELECT device_id, seq, time, received_at FROM telemetry_smoke WHERE seq > %s", (SEQ,)
            )
        }
        dead = dict(
            c.execute(
                "SELECT split_part(topic, '/', 5), reason FROM dead_letters WHERE topic LIKE %s",
                (f"sc/v1/{COMMUNITY}/%",),
            ).fetchall()
        )
        alert_starts = dict(
            c.execute(
                "SELECT subject, started_at FROM alerts WHERE subject = ANY(%s)", ([FAST.id, BUFFERED.id],)
            ).fetchall()
        )
    row = rig.finish(
        "clock skew and late data",
        recovery_s=None,
        skewed_or_late_sent=len(sent),
        skewed_or_late_stored=len(stored),
        dead_lettered=len(dead),
        note="5 min fast and 2 h late: stored; 15 min fast and 31 days old: dead-lettered; "
        "a late alarm behind newer readings raises nothing",
    )
    rig.check(row)
    expected_stored = {(d.id, seq) for d, seq, _, _ in sent if d not in (TOO_FAST, TOO_OLD)}
    assert set(stored) == expected_stored
    for device, seq, at, _ in sent:
        if (device.id, seq) in stored:
            device_time, received_at = stored[(device.id, seq)]
            assert device_time == at, "stored with the device's own time"
            assert now - timedelta(seconds=5) <= received_at <= published_at, "and the hub's receive time"
    assert set(dead) == {TOO_FAST.id, TOO_OLD.id}
    assert "ahead of the hub clock" in dead[TOO_FAST.id]
    assert "older than 30 days" in dead[TOO_OLD.id]
    assert alert_starts[FAST.id] == sent[1][2], "rules run on device time, even a fast one"
    assert alert_starts[BUFFERED.id] == sent[6][2]
