"""Smoke detector readings written straight into the hypertable, for the history tests to compare the API's
answers with values they compute themselves."""

import uuid
from datetime import datetime
from typing import Any

import psycopg

from hub.devices.service import register

SMOKE_COLUMNS = (
    "smoke_obscuration_pct_per_m",
    "temperature_c",
    "battery_pct",
    "alarm",
    "fault",
    "tamper",
    "test_button",
    "rssi_dbm",
)


def new_smoke_detector(conn: psycopg.Connection[Any], community: str = "hist-a") -> str:
    device_id = f"hist-sd-{uuid.uuid4().hex[:8]}"
    [result] = register(conn, [{"id": device_id, "kind": "smoke_detector", "community": community}])
    assert result.status == "created", result
    return device_id


def reading(t: datetime, temperature: float, alarm: bool, rssi: int | None) -> dict[str, Any]:
    return {
        "time": t,
        "smoke_obscuration_pct_per_m": 0.5,
        "temperature_c": temperature,
        "battery_pct": 80.0,
        "alarm": alarm,
        "fault": False,
        "tamper": False,
        "test_button": False,
        "rssi_dbm": rssi,
    }


def insert_smoke(conn: psycopg.Connection[Any], device_id: str, readings: list[dict[str, Any]]) -> None:
    columns = ", ".join(SMOKE_COLUMNS)
    placeholders = ", ".join(["%s"] * (5 + len(SMOKE_COLUMNS)))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO telemetry_smoke (time, device_id, seq, received_at, community_id, {columns}) "
            f"VALUES ({placeholders})",
            [
                (r["time"], device_id, seq, r["time"], "hist-a", *(r[c] for c in SMOKE_COLUMNS))
                for seq, r in enumerate(readings)
            ],
        )
