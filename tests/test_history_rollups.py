"""Hourly and daily history answered from the hourly rollup where it is complete and from raw readings
for the rest, against values computed here. Its own database, because the rollup job's watermark is
database-wide."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.jobs.maintenance import run_rollups
from tests.support.api import app_client, login
from tests.support.services import migrated_database
from tests.support.smoke_history import insert_smoke, new_smoke_detector, reading

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    with (
        migrated_database() as url,
        app_client(
            url, users={"roll-admin": ("admin", ())}, mqtt_auth_dir=tmp_path_factory.mktemp("auth")
        ) as client,
    ):
        yield client, url, login(client, "roll-admin")


def rolled_up(url: str, readings: list[dict[str, Any]], now: datetime) -> str:
    """A new detector with `readings`, and the hourly rollup run as the job would at `now`."""
    with psycopg.connect(url, autocommit=True) as conn:
        device = new_smoke_detector(conn)
        insert_smoke(conn, device, readings)
        assert run_rollups(conn, now) is not None
    return device


def hourly(client: TestClient, headers: dict[str, str], device: str, start: datetime, end: datetime) -> Any:
    r = client.get(
        f"/api/v1/devices/{device}/telemetry",
        params={"from": start.isoformat(), "to": end.isoformat(), "bucket": "1h", "metrics": "temperature_c"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return {p["t"]: p["temperature_c"] for p in r.json()["points"]}


def expected(readings: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, Any]:
    out: dict[str, list[float]] = {}
    for r in readings:
        if start <= r["time"] < end:
            hour = r["time"].replace(minute=0, second=0, microsecond=0)
            out.setdefault(hour.isoformat().replace("+00:00", "Z"), []).append(r["temperature_c"])
    return {t: {"n": len(v), "avg": sum(v) / len(v), "min": min(v), "max": max(v)} for t, v in out.items()}


def close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        a[t]["n"] == b[t]["n"]
        and abs(a[t]["avg"] - b[t]["avg"]) < 1e-4
        and a[t]["min"] == pytest.approx(b[t]["min"])
        and a[t]["max"] == pytest.approx(b[t]["max"])
        for t in a
    )


def test_hourly_history_reads_the_rollup_where_it_is_done_and_raw_data_after_it(
    world: tuple[TestClient, str, dict[str, str]],
) -> None:
    client, url, headers = world
    readings = [
        reading(START + timedelta(minutes=7 * i), 18.0 + (i % 11) * 0.5, False, -60) for i in range(60)
    ]
    device = rolled_up(url, readings, START + timedelta(hours=4, minutes=5))
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT done_until FROM job_watermarks WHERE job = 'telemetry_1h'"
        ).fetchone() == (START + timedelta(hours=4),)
        # Raw rows of the first hour vanish (as after raw retention): only the rollup can still answer.
        conn.execute(
            "DELETE FROM telemetry_smoke WHERE device_id = %s AND time < %s",
            (device, START + timedelta(hours=1)),
        )

    start, end = START, START + timedelta(hours=7)
    answer = hourly(client, headers, device, start, end)
    want = expected(readings, start, end)
    first_hour = START.isoformat().replace("+00:00", "Z")
    assert first_hour in answer, (
        "the first hour is answered, from the rollup, whose hour starts before `from`"
    )
    assert answer[first_hour]["n"] == sum(1 for r in readings if r["time"] < START + timedelta(hours=1))
    del answer[first_hour], want[first_hour]
    assert close(answer, want), (answer, want)


def test_a_range_starting_mid_hour_takes_that_part_from_raw_readings(
    world: tuple[TestClient, str, dict[str, str]],
) -> None:
    client, url, headers = world
    readings = [reading(START + timedelta(minutes=5 * i), 20.0 + (i % 7), i % 4 == 0, -60) for i in range(48)]
    device = rolled_up(url, readings, START + timedelta(hours=3, minutes=5))
    start, end = START + timedelta(minutes=32), START + timedelta(hours=4)
    answer = hourly(client, headers, device, start, end)
    assert close(answer, expected(readings, start, end)), "ragged start from raw, whole hours from the rollup"
