"""Storage per row, measured, and what it means for a city: `python -m bench.storage --rows 200000`.

Creates a throw-away database in the private TimescaleDB cluster, migrates it, registers the benchmark
fleet (bench.fleet: the 40/25/15/20 % kind mix over 8 communities) and writes `--rows` readings the way
live ingest does: normal-day values from bench.payloads (every fourth gate message an access event, as
the load generator sends them), each device reporting once a minute with its own phase, rows in time
order, in batches of HUB_BATCH_MAX_ROWS through hub.store.telemetry.insert_new (COPY into staging, then
INSERT … ON CONFLICT DO NOTHING), so indexes grow by the same random inserts and page splits as in
production. A small share of messages are device events (`--device-event-share`). Then the rollup job
(hub.jobs.maintenance.run_rollups) fills telemetry_1m and telemetry_1h, every table is vacuumed (so the
free-space and visibility maps count, as under autovacuum), and sizes are read with
hypertable_detailed_size(): heap, TOAST and indexes.

The last line printed is JSON: bytes per row per table (`bytes_per_row`, total size including indexes
over rows), the rollups' bytes per device per day, and projections for `--devices` devices reporting
every `--interval-s` seconds: messages per second (average and × `--peak-factor`), rows per day, disk
written per year and held under the hub's default retention (telemetry and device events 400 days,
access events 30, minute rollups 30, hour rollups 800; each plus one chunk interval, since chunks are
dropped whole), hub workers needed, and an *estimate* with compression. The Apache build of
TimescaleDB used here cannot compress, so `--compression-ratio` (default 10, i.e. 90 % smaller, the low
end of what TimescaleDB documents for numeric time series) is an assumption, not a measurement.

Per-table bytes per row include each chunk's fixed overhead (index meta and root pages), which a
city-sized chunk makes negligible; `marginal_bytes_per_row` (size growth over the second half of the
rows) is printed next to it as a check.
"""

import argparse
import hashlib
import hmac
import json
import math
import random
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench import payloads
from bench.fleet import Device, fleet, register
from bench.loadgen import GATE_EVENT_EVERY
from hub.jobs.maintenance import run_rollups
from hub.store.migrations import migrate
from hub.store.telemetry import (
    ACCESS_EVENTS,
    ALL_TABLES,
    DEVICE_EVENTS,
    TELEMETRY_TABLES,
    Table,
    insert_new,
    row_keys,
)
from tests.support.services import create_database, drop_database

BATCH_ROWS = 2000  # HUB_BATCH_MAX_ROWS' default: one live ingest batch
ROLLUPS = ("telemetry_1m", "telemetry_1h")
# The hub's default retention (hub/settings.py) and the chunk interval each table is created with
# (hub/store/migrations): data outlives its limit by up to one chunk, since chunks are dropped whole.
RETENTION_DAYS = {
    **{t.name: 400 for t in TELEMETRY_TABLES.values()},
    DEVICE_EVENTS.name: 400,
    ACCESS_EVENTS.name: 30,
    "telemetry_1m": 30,
    "telemetry_1h": 800,
}
CHUNK_DAYS = {**{t.name: 1 for t in ALL_TABLES}, "telemetry_1m": 1, "telemetry_1h": 30}
# Device events a normal day produces, by kind (field values for held_s and count where the event has one).
_EVENTS: dict[str, tuple[tuple[str, float | None, int | None], ...]] = {
    "smoke_detector": (("self_test", None, None),),
    "lamppost": (("cabinet_opened", None, None),),
    "manhole": (("cover_opened", None, None), ("cover_closed", None, None)),
    "access_gate": (("door_closed", None, None), ("door_held_open", 45.0, None), ("tailgating", None, 2)),
}
GB = 1e9
TB = 1e12


@dataclass(frozen=True, slots=True)
class Size:
    table: int
    index: int
    toast: int

    @property
    def total(self) -> int:
        return self.table + self.index + self.toast


def build_rows(
    devices: Sequence[Device], per_device: int, start: datetime, *, seed: int, event_share: float
) -> list[tuple[Table, tuple[Any, ...]]]:
    """Every device's readings, once a minute from its own phase, sorted by device time as they arrive."""
    key = secrets.token_bytes(32)
    out: list[tuple[Table, tuple[Any, ...]]] = []
    for device in devices:
        rng = random.Random(f"{seed}:{device.id}:time")
        phase = rng.uniform(0, 60)
        seq0 = rng.randrange(1, 500_000)
        variants = payloads.variants(device, per_device, seed=seed, event_every=GATE_EVENT_EVERY)
        for i, (channel, values) in enumerate(variants):
            ts = start + timedelta(seconds=phase + 60 * i + rng.uniform(-0.5, 0.5))
            head = (ts, device.id, seq0 + i, ts + timedelta(seconds=rng.uniform(0.02, 0.5)), device.community)
            if rng.random() < event_share:
                event, held_s, count = rng.choice(_EVENTS[device.kind])
                out.append((DEVICE_EVENTS, (*head, event, held_s, count)))
            elif channel == "event":
                pseudonym = hmac.new(key, values["person_ref"].encode(), hashlib.sha256).hexdigest()[:32]
                row = (*head, values["result"], values["method"], values["direction"], pseudonym)
                out.append((ACCESS_EVENTS, row))
            else:
                table = TELEMETRY_TABLES[_kind(device)]
                out.append((table, head + tuple(values.get(c) for c in table.columns)))
    out.sort(key=lambda r: r[1][0])
    return out


def _kind(device: Device) -> Any:
    return next(k for k in TELEMETRY_TABLES if k.value == device.kind)


def insert(conn: psycopg.Connection[Any], rows: Sequence[tuple[Table, tuple[Any, ...]]]) -> int:
    """Write in live-ingest batches, one transaction each; returns the rows stored."""
    stored = 0
    for i in range(0, len(rows), BATCH_ROWS):
        by_table: dict[Table, list[tuple[Any, ...]]] = defaultdict(list)
        for table, row in rows[i : i + BATCH_ROWS]:
            by_table[table].append(row)
        with conn.transaction():
            for table, table_rows in by_table.items():
                stored += len(insert_new(conn, table, table_rows, row_keys(table_rows)))
    return stored


def sizes(conn: psycopg.Connection[Any], tables: Sequence[str]) -> dict[str, Size]:
    for name in tables:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(name)))
    out = {}
    for name in tables:
        row = conn.execute(
            "SELECT table_bytes, index_bytes, toast_bytes FROM hypertable_detailed_size(%s::regclass)",
            (name,),
        ).fetchone()
        assert row is not None
        out[name] = Size(*(int(v or 0) for v in row))
    return out


def index_bytes(conn: psycopg.Connection[Any], table: str) -> dict[str, int]:
    """Bytes of each of the table's indexes, summed over its chunks (keyed by the index's own name)."""
    out: dict[str, int] = defaultdict(int)
    for name, size in conn.execute(
        "SELECT pi.indexname, pg_relation_size(format('%%I.%%I', c.chunk_schema, ci.indexname)::regclass)"
        " FROM timescaledb_information.chunks c"
        " JOIN pg_indexes ci ON ci.schemaname = c.chunk_schema AND ci.tablename = c.chunk_name"
        " JOIN pg_indexes pi ON pi.tablename = c.hypertable_name AND ci.indexname LIKE '%%' || pi.indexname"
        " WHERE c.hypertable_name = %s",
        (table,),
    ):
        out[name] += int(size)
    return dict(out)


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def fill_rollups(conn: psycopg.Connection[Any], now: datetime) -> None:
    for _ in range(20):
        done = run_rollups(conn, now)
        if done is None:
            raise RuntimeError("the rollup lock is held by someone else")
        if not any(done.values()):
            return


def held_days(table: str, after_days: float) -> float:
    """Days of data a table holds after `after_days` of operation under the default retention."""
    return min(after_days, RETENTION_DAYS[table] + CHUNK_DAYS[table])


def compressed_days(days: float, compress_after: float, ratio: float) -> float:
    """`days` of data expressed in uncompressed days, the chunks older than `compress_after` at 1/ratio."""
    return min(days, compress_after) + max(0.0, days - compress_after) / ratio


def measure(args: argparse.Namespace) -> dict[str, Any]:
    name, url = create_database()
    try:
        migrate(url)
        devices = fleet(args.sample_devices)
        per_device = max(1, args.rows // len(devices))
        # An hour into yesterday (UTC): one daily chunk, rollups closed long before "now".
        start = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=1)
        rows = build_rows(devices, per_device, start, seed=args.seed, event_share=args.device_event_share)
        raw_tables = [t.name for t in ALL_TABLES]
        with psycopg.connect(url, autocommit=True) as conn:
            register(conn, devices)
            registry_bytes = conn.execute("SELECT pg_total_relation_size('devices')").fetchone()
            half = len(rows) // 2
            started = time.monotonic()
            stored = insert(conn, rows[:half])
            at_half = sizes(conn, raw_tables)
            rows_at_half = {t: count(conn, t) for t in raw_tables}
            stored += insert(conn, rows[half:])
            insert_s = time.monotonic() - started
            fill_rollups(conn, start + timedelta(minutes=per_device + 1, hours=2))
            final = sizes(conn, [*raw_tables, *ROLLUPS])
            counts = {t: count(conn, t) for t in [*raw_tables, *ROLLUPS]}
            per_index = {t: index_bytes(conn, t) for t in raw_tables}
            hour_pairs = conn.execute(
                "SELECT count(DISTINCT (device_id, bucket)) FROM telemetry_1h"
            ).fetchone()
        assert stored == len(rows), f"stored {stored} of {len(rows)} rows"
    finally:
        drop_database(name)

    tables: dict[str, dict[str, float]] = {}
    for t in raw_tables:
        n, s = counts[t], final[t]
        grown = s.total - at_half[t].total
        tables[t] = {
            "rows": n,
            "table_bytes": s.table,
            "index_bytes": s.index,
            "toast_bytes": s.toast,
            "bytes_per_row": round(s.total / n, 1) if n else 0.0,
            "heap_bytes_per_row": round((s.table + s.toast) / n, 1) if n else 0.0,
            "index_bytes_per_row": round(s.index / n, 1) if n else 0.0,
            "marginal_bytes_per_row": round(grown / (n - rows_at_half[t]), 1) if n > rows_at_half[t] else 0.0,
        } | {
            f"index_{i.removeprefix(t + '_')}_bytes_per_row": round(b / n, 1)
            for i, b in sorted(per_index[t].items())
            if n
        }
    messages = len(rows)
    telemetry_rows = sum(counts[t.name] for t in TELEMETRY_TABLES.values())
    minutes_per_device_day = 86_400 / args.interval_s * telemetry_rows / messages
    rollups: dict[str, dict[str, float]] = {}
    for t in ROLLUPS:
        n, s = counts[t], final[t]
        per_row = s.total / n if n else 0.0
        if t == "telemetry_1m":  # one bucket per reading at once a minute: metrics per reading × readings
            per_device_day = n / telemetry_rows * minutes_per_device_day
        else:  # metrics per (device, hour) × 24 hours
            per_device_day = n / int(hour_pairs[0] if hour_pairs else 1) * 24
        rollups[t] = {
            "rows": n,
            "bytes_per_row": round(per_row, 1),
            "rows_per_device_day": round(per_device_day, 1),
            "bytes_per_device_day": round(per_row * per_device_day),
        }

    # Projection: the sample's mix of tables, scaled to the city.
    msgs_per_day = args.devices * 86_400 / args.interval_s
    avg = args.devices / args.interval_s
    per_day_bytes: dict[str, float] = {}
    rows_per_day: dict[str, int] = {}
    for t in raw_tables:
        rows_per_day[t] = round(msgs_per_day * counts[t] / messages)
        per_day_bytes[t] = rows_per_day[t] * tables[t]["bytes_per_row"]
    for t in ROLLUPS:
        rows_per_day[t] = round(args.devices * rollups[t]["rows_per_device_day"])
        per_day_bytes[t] = args.devices * rollups[t]["bytes_per_device_day"]

    def footprint(after_days: float, ratio: float | None) -> dict[str, float]:
        out = {}
        for t, daily in per_day_bytes.items():
            days = held_days(t, after_days)
            if ratio is not None:
                days = compressed_days(days, args.compress_after_days, ratio)
            out[t] = daily * days
        return {"total_tb": round(sum(out.values()) / TB, 2)} | {
            t: round(b / TB, 3) for t, b in sorted(out.items())
        }

    cap = args.worker_msgs_per_s
    workers_avg = math.ceil(avg / (cap * (1 - args.headroom)))
    workers_peak = math.ceil(avg * args.peak_factor / cap)
    registry = int(registry_bytes[0]) if registry_bytes else 0
    return {
        "sample": {
            "devices": len(devices),
            "rows": messages,
            "minutes": per_device,
            "insert_rows_per_s": round(messages / insert_s),
            "registry_bytes_per_device": round(registry / len(devices), 1),
        },
        "tables": tables,
        "rollups": rollups,
        "projection": {
            "devices": args.devices,
            "interval_s": args.interval_s,
            "msgs_per_s_avg": round(avg),
            "peak_factor": args.peak_factor,
            "msgs_per_s_peak": round(avg * args.peak_factor),
            "rows_per_day": {"raw_total": round(msgs_per_day)} | rows_per_day,
            "raw_gb_per_day": round(sum(per_day_bytes[t] for t in raw_tables) / GB, 1),
            "rollup_gb_per_day": round(sum(per_day_bytes[t] for t in ROLLUPS) / GB, 1),
            "gb_per_day": {t: round(b / GB, 2) for t, b in per_day_bytes.items()},
            "written_per_year_tb": round(sum(per_day_bytes.values()) * 365 / TB, 1),
            "held_after_1_year": footprint(365, None),
            "held_steady_state": footprint(10_000, None),
            "compression_estimate": {
                "measured": False,
                "assumed_ratio": args.compression_ratio,
                "compress_after_days": args.compress_after_days,
                "held_after_1_year": footprint(365, args.compression_ratio),
                "held_steady_state": footprint(10_000, args.compression_ratio),
            },
            "workers": {
                "msgs_per_s_per_worker": cap,
                "headroom": args.headroom,
                "for_average": workers_avg,
                "for_peak": workers_peak,
                "recommended_n_plus_1": max(workers_avg, workers_peak) + 1,
            },
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000, help="messages to store (rounded to whole minutes)")
    p.add_argument("--sample-devices", type=int, default=10_000, help="fleet size of the sample")
    p.add_argument("--device-event-share", type=float, default=0.01, help="share of messages that are events")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--devices", type=int, default=1_000_000, help="devices in the projection")
    p.add_argument("--interval-s", type=float, default=60.0, help="seconds between a device's messages")
    p.add_argument("--peak-factor", type=float, default=3.0, help="peak over average message rate")
    p.add_argument(
        "--worker-msgs-per-s",
        type=float,
        default=6_956,
        help="one worker's measured throughput (README Benchmark: default rule pack, 2 cores)",
    )
    p.add_argument("--headroom", type=float, default=0.5, help="share of a worker kept free at average load")
    p.add_argument("--compression-ratio", type=float, default=10.0, help="ASSUMED, not measured here")
    p.add_argument("--compress-after-days", type=float, default=7.0)
    args = p.parse_args(argv)
    if args.rows < 1 or args.sample_devices < 1 or not 0 <= args.headroom < 1:
        p.error("--rows and --sample-devices must be positive, --headroom in [0, 1)")
    print(json.dumps(measure(args), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
