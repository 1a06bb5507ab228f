"""Backup and restore as the README describes it: `pg_dump -Fc` of a hub database with data, restored
into a new database between `timescaledb_pre_restore()` and `timescaledb_post_restore()`; every table
keeps its rows, every hypertable stays a hypertable with its chunks, and the hub can carry on."""

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hub.cases.opening import NewCase, open_case
from hub.cases.routing import Routed
from hub.cases.sla import Deadlines
from hub.devices.service import register
from hub.store.migrations import migrate
from hub.store.users import upsert_user
from tests.support.services import create_database, drop_database

PG_BIN = Path("/usr/lib/postgresql/15/bin")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 5
READINGS_PER_DAY = 96

pytestmark = pytest.mark.skipif(not (PG_BIN / "pg_dump").exists(), reason="needs PostgreSQL 15's pg_dump")


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """A fresh, migrated source database and an empty target database."""
    src_name, src_url = create_database()
    dst_name, dst_url = create_database()
    try:
        migrate(src_url)
        yield src_url, dst_url
    finally:
        drop_database(src_name)
        drop_database(dst_name)


def fill(url: str) -> int:
    """Devices, five days of telemetry (several chunks), an event, a user and a case with history."""
    with psycopg.connect(url, autocommit=True) as conn:
        register(
            conn,
            [
                {"id": f"bk-sd{i}", "kind": "smoke_detector", "community": "backup", "building": "b1"}
                for i in range(3)
            ],
        )
        conn.execute(
            """
            INSERT INTO telemetry_smoke (time, device_id, seq, received_at, community_id,
                smoke_obscuration_pct_per_m, temperature_c, battery_pct, alarm, fault, tamper, test_button)
            SELECT %(t0)s + n * interval '15 minutes', 'bk-sd' || (n %% 3), n, now(), 'backup',
                   0.1, 20 + (n %% 7), 90, false, false, false, false
            FROM generate_series(0, %(count)s - 1) AS n
            """,
            {"t0": T0, "count": DAYS * READINGS_PER_DAY},
        )
        conn.execute(
            "INSERT INTO device_events (time, device_id, seq, received_at, community_id, event) "
            "VALUES (%s, 'bk-sd0', 100000, now(), 'backup', 'self_test')",
            (T0,),
        )
        user_id = upsert_user(conn, "bk-operator", "bk-password", "operator")
        new = NewCase(
            title="Smoke in b1",
            category="fire",
            severity="critical",
            source="operator",
            subject="operator:backup-test",
            community_id="backup",
            building="b1",
            grid=None,
            device_id="bk-sd1",
            description="seen from the street",
            reporter_id=user_id,
        )
        due = Deadlines(T0 + timedelta(minutes=15), T0 + timedelta(hours=4))
        case_id, created = open_case(
            conn,
            new,
            Routed("fire-safety", "default"),
            due,
            actor="bk-operator",
            why="seeded",
            why_detail={},
            at=T0,
        )
        assert created
        return case_id


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args[0]} failed ({result.returncode}):\n{result.stderr}"
    return result


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    ]
    counts = {}
    for t in tables:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
        assert row is not None
        counts[t] = int(row[0])
    return counts


def hypertables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT hypertable_name, num_chunks FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = 'public'"
        ).fetchall()
    )


def test_pg_dump_and_restore_keep_every_row_and_every_hypertable(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, dst_url = databases
    case_id = fill(src_url)
    dump = tmp_path / "hub.dump"
    run(PG_BIN / "pg_dump", "-Fc", "--dbname", src_url, "--file", dump)
    assert dump.stat().st_size > 0

    with psycopg.connect(dst_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    run(PG_BIN / "pg_restore", "--dbname", dst_url, "--no-owner", dump)
    with psycopg.connect(dst_url, autocommit=True) as conn:
        conn.execute("SELECT timescaledb_post_restore()")

    with psycopg.connect(src_url) as src, psycopg.connect(dst_url) as dst:
        before, after = table_counts(src), table_counts(dst)
        assert before["telemetry_smoke"] == DAYS * READINGS_PER_DAY
        assert after == before
        src_hyper, dst_hyper = hypertables(src), hypertables(dst)
        assert "telemetry_smoke" in dst_hyper and "device_events" in dst_hyper
        assert dst_hyper == src_hyper, "every hypertable restored as a hypertable with all its chunks"
        assert dst_hyper["telemetry_smoke"] >= DAYS, "one-day chunks"
        restoring = dst.execute("SHOW timescaledb.restoring").fetchone()
        assert restoring == ("off",)
        for query in (
            "SELECT sum(temperature_c), min(time), max(time) FROM telemetry_smoke",
            "SELECT title, status, device_id, reporter_id FROM cases ORDER BY id",
            "SELECT case_id, action, to_status FROM case_events ORDER BY id",
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
        ):
            assert dst.execute(query).fetchall() == src.execute(query).fetchall(), query
        assert dst.execute("SELECT status FROM cases WHERE id = %s", (case_id,)).fetchone() == ("dispatched",)

    # the restored database is one the hub can use: nothing to migrate, and inserts still route into
    # (new) chunks of the hypertable
    assert migrate(dst_url) == []
    with psycopg.connect(dst_url, autocommit=True) as dst:
        chunks_before = hypertables(dst)["telemetry_smoke"]
        dst.execute(
            "INSERT INTO telemetry_smoke (time, device_id, seq, received_at, community_id,"
            " smoke_obscuration_pct_per_m, temperature_c, battery_pct, alarm, fault, tamper, test_button)"
            " VALUES (%s, 'bk-sd0', 999999, now(), 'backup', 0, 20, 90, false, false, false, false)",
            (T0 + timedelta(days=40),),
        )
        assert hypertables(dst)["telemetry_smoke"] == chunks_before + 1
        plan = dst.execute(
            "EXPLAIN SELECT count(*) FROM telemetry_smoke WHERE time >= %s AND time < %s",
            (T0, T0 + timedelta(days=1)),
        ).fetchall()
        assert "_hyper_" in "\n".join(r[0] for r in plan), "queries run on the chunks"
