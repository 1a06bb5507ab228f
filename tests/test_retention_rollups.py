"""Retention and rollups against the real TimescaleDB (an Apache-only build: no compression, continuous
aggregates or retention policies). The database is shared by the session, so every test uses its own
device ids, and the rollup tests use their own stretch of (future) time with watermarks set to it."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from hub.domain.devices import DeviceKind
from hub.jobs.maintenance import (
    ROLLUP_LAG,
    ROLLUP_MAX_STEPS,
    ROLLUP_STEP,
    RetentionPolicy,
    run_retention,
    run_rollups,
)
from hub.settings import Settings
from hub.store import deadletters
from hub.store.maintenance import get_watermark, rollup, set_watermark
from hub.store.telemetry import ACCESS_EVENTS, DEVICE_EVENTS, TELEMETRY_TABLES, Table, insert_new, row_keys

Conn = psycopg.Connection[Any]
SMOKE = TELEMETRY_TABLES[DeviceKind.SMOKE_DETECTOR]
LAMPPOST = TELEMETRY_TABLES[DeviceKind.LAMPPOST]
Expected = dict[tuple[str, str, datetime], tuple[str, int, float, float, float, float]]


@pytest.fixture
def policy() -> RetentionPolicy:
    return RetentionPolicy.from_settings(Settings(environment="test"))


def insert(conn: Conn, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    table_rows = [[row[c] for c in table.all_columns] for row in rows]
    with conn.transaction():
        insert_new(conn, table, table_rows, row_keys(table_rows))


def stored_row(
    device: str, time: datetime, seq: int, community: str = "rr-community", **values: Any
) -> dict[str, Any]:
    """A stored row of any of the device tables: the columns they share, then the table's own."""
    return {
        "time": time,
        "device_id": device,
        "seq": seq,
        "received_at": time,
        "community_id": community,
        **values,
    }


def smoke(
    device: str, time: datetime, seq: int, temperature_c: float = 21.0, **values: Any
) -> dict[str, Any]:
    defaults = {
        "smoke_obscuration_pct_per_m": 0.0,
        "battery_pct": 90.0,
        "alarm": False,
        "fault": False,
        "tamper": False,
        "test_button": False,
        "rssi_dbm": None,
    }
    return stored_row(device, time, seq, **(defaults | {"temperature_c": temperature_c} | values))


def access(device: str, time: datetime, seq: int) -> dict[str, Any]:
    return stored_row(
        device, time, seq, result="granted", method="card", direction="in", person_pseudonym="p-1"
    )


def event(device: str, time: datetime, seq: int) -> dict[str, Any]:
    return stored_row(device, time, seq, event="self_test", held_s=None, count=None)


def times(conn: Conn, table: str, device: str) -> list[datetime]:
    rows = conn.execute(f"SELECT time FROM {table} WHERE device_id = %s ORDER BY time", (device,)).fetchall()
    return [r[0] for r in rows]


def stored(conn: Conn, target: str, devices: list[str]) -> Expected:
    rows = conn.execute(
        f"SELECT device_id, metric, bucket, community_id, n, avg, min, max, last FROM {target}"
        " WHERE device_id = ANY(%s)",
        (devices,),
    ).fetchall()
    return {(d, m, b): (c, n, a, lo, hi, last) for d, m, b, c, n, a, lo, hi, last in rows}


def computed(rows: list[dict[str, Any]], metrics: Iterable[str], hourly: bool = False) -> Expected:
    """The rollup worked out in Python from the rows the test inserted."""
    groups: dict[tuple[str, str, datetime], list[tuple[datetime, int, str, float]]] = defaultdict(list)
    for row in rows:
        bucket = row["time"].replace(second=0, microsecond=0)
        if hourly:
            bucket = bucket.replace(minute=0)
        for m in metrics:
            if row[m] is not None:
                groups[(row["device_id"], m, bucket)].append(
                    (row["time"], row["seq"], row["community_id"], float(row[m]))
                )
    out: Expected = {}
    for key, readings in groups.items():
        values = [v for *_, v in readings]
        _, _, community, last = max(readings, key=lambda r: (r[0], r[1]))
        out[key] = (community, len(values), sum(values) / len(values), min(values), max(values), last)
    return out


def assert_same(actual: Expected, expected: Expected) -> None:
    assert actual.keys() == expected.keys()
    for key, (community, n, avg, lo, hi, last) in expected.items():
        got_community, got_n, got_avg, *got_rest = actual[key]
        assert (got_community, got_n, *got_rest) == (community, n, lo, hi, last), key
        assert got_avg == pytest.approx(avg, rel=1e-12), key


def start_rollups_at(conn: Conn, t: datetime) -> None:
    set_watermark(conn, "telemetry_1m", t)
    set_watermark(conn, "telemetry_1h", t)


def test_retention_drops_chunks_older_than_the_limit_and_keeps_newer_rows(
    conn: Conn, policy: RetentionPolicy
) -> None:
    now = datetime.now(UTC)
    insert(conn, SMOKE, [smoke("rr-ret-1", now - timedelta(days=410), 1)])
    insert(conn, SMOKE, [smoke("rr-ret-1", now - timedelta(days=390), 2)])

    done = run_retention(conn, policy, now)

    assert done is not None and done["telemetry_smoke"] >= 1
    assert times(conn, "telemetry_smoke", "rr-ret-1") == [now - timedelta(days=390)]


def test_access_events_expire_after_30_days_while_telemetry_of_the_same_age_stays(
    conn: Conn, policy: RetentionPolicy
) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=32), now - timedelta(days=28)
    insert(conn, ACCESS_EVENTS, [access("rr-acc-gate", old, 1), access("rr-acc-gate", recent, 2)])
    insert(conn, SMOKE, [smoke("rr-acc-sd", old, 1)])
    insert(conn, DEVICE_EVENTS, [event("rr-acc-sd", old, 1)])

    done = run_retention(conn, policy, now)

    assert done is not None and done["access_events"] >= 1
    assert times(conn, "access_events", "rr-acc-gate") == [recent]
    assert times(conn, "telemetry_smoke", "rr-acc-sd") == [old]
    assert times(conn, "device_events", "rr-acc-sd") == [old]


def test_dead_letters_expire(conn: Conn, policy: RetentionPolicy) -> None:
    now = datetime.now(UTC)
    topic = "sc/v1/rr/smoke_detector/rr-dl-1/telemetry"
    deadletters.insert(
        conn,
        [
            deadletters.DeadLetter(now - timedelta(days=91), topic, "rr-dl-1", "schema", b"{}", 2),
            deadletters.DeadLetter(now - timedelta(days=89), topic, "rr-dl-1", "schema", b"{}", 2),
        ],
    )

    done = run_retention(conn, policy, now)

    assert done is not None and done["dead_letters"] >= 1
    kept = conn.execute("SELECT received_at FROM dead_letters WHERE topic = %s", (topic,)).fetchall()
    assert kept == [(now - timedelta(days=89),)]


def test_rollups_equal_values_computed_from_the_rows_and_reruns_change_nothing(conn: Conn) -> None:
    t = datetime(2031, 1, 6, 10, 0, tzinfo=UTC)

    def lamp(device: str, community: str, offset_s: int, seq: int, k: float, **values: Any) -> dict[str, Any]:
        measured = {
            "lamp_on": seq % 3 != 0,
            "dim_level_pct": 10.0 * k,
            "power_w": 40.25 * k,
            "voltage_v": 230.0 - k,
            "current_a": 0.25 * k,
            "pole_tilt_deg": 0.5,
            "cabinet_door_open": False,
            "pm25_ug_m3": None if seq % 2 else 12.5 + k,
            "noise_db": 41.0 + k,
            "emergency_call": seq == 4,
            "rssi_dbm": -70 - seq,
        }
        return stored_row(device, t + timedelta(seconds=offset_s), seq, community, **(measured | values))

    rows = [
        lamp("rr-roll-lp1", "rr-c1", 5, 1, 1.0),
        lamp("rr-roll-lp1", "rr-c1", 20, 2, 3.0),
        lamp("rr-roll-lp1", "rr-c1", 59, 3, 2.0),
        lamp("rr-roll-lp1", "rr-c1", 70, 4, 4.0),
        lamp("rr-roll-lp1", "rr-c1", 70, 5, 0.5),
        lamp("rr-roll-lp1", "rr-c1", 150, 6, 6.0),
        lamp("rr-roll-lp1", "rr-c1", 3600 + 10, 7, 7.0),
        lamp("rr-roll-lp2", "rr-c2", 30, 1, 2.5, noise_db=None),
        lamp("rr-roll-lp2", "rr-c2", 90, 2, 3.5, noise_db=None),
    ]
    insert(conn, LAMPPOST, rows)
    devices = ["rr-roll-lp1", "rr-roll-lp2"]
    metrics = list(LAMPPOST.columns)
    first_hour = [r for r in rows if r["time"] < t + timedelta(hours=1)]

    written = rollup(conn, LAMPPOST.name, metrics, "telemetry_1m", t, t + timedelta(hours=1))

    expected_minutes = computed(first_hour, metrics)
    assert written == len(expected_minutes)
    assert_same(stored(conn, "telemetry_1m", devices), expected_minutes)
    lamp_on = stored(conn, "telemetry_1m", devices)[("rr-roll-lp1", "lamp_on", t)]
    assert lamp_on[2] == pytest.approx(2 / 3)

    metric_names = sorted({c for table in TELEMETRY_TABLES.values() for c in table.columns})
    hours = rollup(conn, "telemetry_1m", metric_names, "telemetry_1h", t, t + timedelta(hours=1))

    assert hours == len(computed(first_hour, metrics, hourly=True))
    assert_same(stored(conn, "telemetry_1h", devices), computed(first_hour, metrics, hourly=True))

    before = (stored(conn, "telemetry_1m", devices), stored(conn, "telemetry_1h", devices))
    assert rollup(conn, LAMPPOST.name, metrics, "telemetry_1m", t, t + timedelta(hours=1)) == 0
    assert rollup(conn, "telemetry_1m", metric_names, "telemetry_1h", t, t + timedelta(hours=1)) == 0
    assert (stored(conn, "telemetry_1m", devices), stored(conn, "telemetry_1h", devices)) == before


def test_rollup_refuses_partial_buckets_and_non_numeric_columns(conn: Conn) -> None:
    t = datetime(2031, 1, 7, 0, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="bucket boundary"):
        rollup(
            conn,
            SMOKE.name,
            ["temperature_c"],
            "telemetry_1m",
            t + timedelta(seconds=30),
            t + timedelta(hours=1),
        )
    with pytest.raises(ValueError, match="bucket boundary"):
        rollup(conn, "telemetry_1m", ["temperature_c"], "telemetry_1h", t, t + timedelta(minutes=30))
    with pytest.raises(ValueError, match="not a numeric or boolean column"):
        rollup(conn, DEVICE_EVENTS.name, ["event"], "telemetry_1m", t, t + timedelta(minutes=1))


def test_rollup_job_includes_a_late_row_inside_the_lag_and_leaves_closed_buckets_alone(conn: Conn) -> None:
    t = datetime(2031, 2, 3, 10, 0, tzinfo=UTC)
    start_rollups_at(conn, t)
    device = "rr-lag-sd1"
    insert(conn, SMOKE, [smoke(device, t + timedelta(seconds=10), 1, temperature_c=20.0)])

    assert run_rollups(conn, t + timedelta(minutes=1) + ROLLUP_LAG - timedelta(seconds=1)) == {
        "telemetry_1m": 0,
        "telemetry_1h": 0,
    }
    assert stored(conn, "telemetry_1m", [device]) == {}

    late = smoke(device, t + timedelta(seconds=40), 2, temperature_c=30.0)
    insert(conn, SMOKE, [late])
    now = t + timedelta(minutes=1) + ROLLUP_LAG
    done = run_rollups(conn, now)

    assert done is not None and done["telemetry_1m"] == len(SMOKE.columns) - 1
    assert stored(conn, "telemetry_1m", [device])[(device, "temperature_c", t)] == (
        "rr-community",
        2,
        25.0,
        20.0,
        30.0,
        30.0,
    )
    assert get_watermark(conn, "telemetry_1m") == t + timedelta(minutes=1)
    assert run_rollups(conn, now) == {"telemetry_1m": 0, "telemetry_1h": 0}

    insert(conn, SMOKE, [smoke(device, t + timedelta(seconds=50), 3, temperature_c=90.0)])
    run_rollups(conn, now + timedelta(minutes=1))
    assert stored(conn, "telemetry_1m", [device])[(device, "temperature_c", t)][1] == 2


def test_rollup_job_builds_hours_from_minutes_in_bounded_steps(conn: Conn) -> None:
    t = datetime(2031, 3, 3, 0, 0, tzinfo=UTC)
    start_rollups_at(conn, t)
    device = "rr-steps-sd1"
    rows = [
        smoke(device, t + timedelta(minutes=5), 1, temperature_c=18.0, alarm=True),
        smoke(device, t + timedelta(minutes=35), 2, temperature_c=22.5),
        smoke(device, t + timedelta(minutes=35, seconds=30), 3, temperature_c=23.0),
        smoke(device, t + timedelta(hours=13, minutes=1), 4, temperature_c=40.0),
    ]
    insert(conn, SMOKE, rows)
    now = t + timedelta(days=1)
    reach = t + ROLLUP_STEP["telemetry_1m"] * ROLLUP_MAX_STEPS

    run_rollups(conn, now)

    assert get_watermark(conn, "telemetry_1m") == reach
    assert get_watermark(conn, "telemetry_1h") == reach
    assert_same(stored(conn, "telemetry_1h", [device]), computed(rows[:3], SMOKE.columns, hourly=True))

    run_rollups(conn, now)

    minutes_done = get_watermark(conn, "telemetry_1m")
    assert minutes_done == (now - ROLLUP_LAG).replace(second=0, microsecond=0)
    assert get_watermark(conn, "telemetry_1h") == minutes_done.replace(minute=0)
    assert_same(stored(conn, "telemetry_1m", [device]), computed(rows, SMOKE.columns))
    assert_same(stored(conn, "telemetry_1h", [device]), computed(rows, SMOKE.columns, hourly=True))


def test_two_workers_never_run_the_same_job_at_once(
    database_url: str, conn: Conn, policy: RetentionPolicy
) -> None:
    t = datetime(2031, 4, 7, 0, 0, tzinfo=UTC)
    start_rollups_at(conn, t)
    device = "rr-lock-sd1"
    insert(conn, SMOKE, [smoke(device, t + timedelta(seconds=10), 1)])
    now = t + timedelta(minutes=5)

    with psycopg.connect(database_url, autocommit=True) as other:
        with conn.transaction():
            first = run_rollups(conn, now)
            assert run_rollups(other, now) is None
        assert first is not None and first["telemetry_1m"] > 0
        assert run_rollups(other, now) == {"telemetry_1m": 0, "telemetry_1h": 0}

        real_now = datetime.now(UTC)
        with conn.transaction():
            assert run_retention(conn, policy, real_now) is not None
            assert run_retention(other, policy, real_now) is None
        assert run_retention(other, policy, real_now) is not None


def test_rollups_and_delivered_notifications_expire_too(conn: Conn, policy: RetentionPolicy) -> None:
    now = datetime.now(UTC)
    old_minute = now - timedelta(days=40)
    conn.execute(
        "INSERT INTO telemetry_1m (bucket, device_id, community_id, metric, n, avg, min, max, last) "
        "VALUES (%s, 'rr-roll', 'rr', 'temperature_c', 1, 20, 20, 20, 20), "
        "(%s, 'rr-roll', 'rr', 'temperature_c', 1, 21, 21, 21, 21)",
        (old_minute, now - timedelta(days=1)),
    )
    conn.execute("INSERT INTO communities (id, name) VALUES ('rr-n', 'rr-n') ON CONFLICT DO NOTHING")
    case = conn.execute(
        "INSERT INTO cases (title, category, severity, status, source, subject, community_id, team) "
        "VALUES ('t', 'fire', 'minor', 'new', 'operator', 'rr-n-subject', 'rr-n', 'rr-team') RETURNING id"
    ).fetchone()
    assert case is not None
    conn.execute("INSERT INTO case_events (case_id, actor, action) VALUES (%s, 'test', 'opened')", (case[0],))
    conn.execute(
        "UPDATE notification_outbox SET status = 'delivered', delivered_at = %s WHERE case_event_id IN "
        "(SELECT id FROM case_events WHERE case_id = %s)",
        (now - timedelta(days=15), case[0]),
    )
    delivered = "SELECT count(*) FROM notification_outbox o JOIN case_events e ON e.id = o.case_event_id WHERE e.case_id = %s"
    before = conn.execute(delivered, (case[0],)).fetchone()
    assert before is not None and before[0] >= 1, "the outbox trigger made a notification for the team"

    done = run_retention(conn, policy, now)

    assert done is not None and done["telemetry_1m"] >= 1 and done["notification_outbox"] >= 1
    kept = conn.execute("SELECT count(*) FROM telemetry_1m WHERE device_id = 'rr-roll'").fetchone()
    assert kept == (1,)
    assert conn.execute(delivered, (case[0],)).fetchone() == (0,)


def test_idempotency_keys_expire(conn: Conn, policy: RetentionPolicy) -> None:
    now = datetime.now(UTC)
    user = conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, 'x', 'integration') RETURNING id",
        (f"rr-key-{now.timestamp()}",),
    ).fetchone()
    assert user is not None
    for key, age in (("old", timedelta(days=8)), ("recent", timedelta(days=6))):
        conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request, created_at) VALUES (%s, %s, 'POST /x', %s)",
            (user[0], key, now - age),
        )

    done = run_retention(conn, policy, now)

    assert done is not None and done["idempotency_keys"] >= 1
    kept = conn.execute("SELECT key FROM idempotency_keys WHERE user_id = %s", (user[0],)).fetchall()
    assert kept == [("recent",)]
