"""The health page's figures in one answer: the answering worker's own ingest counters, rates, MQTT
sessions and next job runs, and from the database what all workers share: partition leases, workers,
scheduled job runs, dead letters and the notification queue."""

import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.domain.health import WorkerState
from hub.domain.storms import FLOOD_ABOVE, FLOOD_WINDOW
from hub.services import rules
from hub.store import deadletters, job_runs, outbox, replication, storms
from hub.store import partitions as partition_store

RECENT = timedelta(hours=24)
RUNS_LISTED = 12


def overview(
    conn: psycopg.Connection[Any],
    *,
    here: WorkerState | None,
    counters: dict[str, Any] | None,
    lease_ttl_s: float,
    pool: dict[str, int],
    standby: dict[str, Any] | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    conn.execute("SELECT 1")
    latency_ms = (time.perf_counter() - started) * 1000
    now = datetime.now(UTC)
    leases = partition_store.leases(conn)
    heartbeats = {w["worker_id"]: w for w in partition_store.workers(conn, lease_ttl_s)}
    loads = {w["worker_id"]: w for w in rules.workers(conn)}
    next_runs = here.next_runs if here is not None else {}
    return {
        "at": now,
        "worker": None if here is None else here.worker,
        "ingest": {
            "state": "off" if here is None else here.ingest,
            "sessions": []
            if here is None
            else [{"partition": p, "subscribed": s} for p, s in here.sessions.items()],
            "counters": counters,
            "rates": [] if here is None else [asdict(r) for r in here.rates],
        },
        "database": {"latency_ms": round(latency_ms, 2), "pool": pool, "standby": standby},
        "dead_letters": deadletters.by_reason(conn, now - RECENT),
        "floods": flood_rates(conn, now),
        "notifications": outbox.waiting(conn),
        "partitions": leases,
        "workers": [
            {
                "worker_id": worker,
                "heartbeat_at": heartbeats.get(worker, {}).get("heartbeat_at"),
                "alive": bool(heartbeats.get(worker, {}).get("alive") or loads.get(worker, {}).get("alive")),
                "partitions": [p["partition"] for p in leases if p["owner"] == worker and not p["expired"]],
                "rules": loads.get(worker),
            }
            for worker in sorted(heartbeats.keys() | loads.keys())
        ],
        "jobs": [
            _job(s, next_runs.get(s["job"])) for s in job_runs.summary(conn, sorted(next_runs), now - RECENT)
        ],
        "job_runs": job_runs.recent(conn, RUNS_LISTED),
    }


def standby(conn: psycopg.Connection[Any], reads: psycopg.Connection[Any] | None) -> dict[str, Any]:
    """Where the standby of `HUB_DATABASE_READ_URL` stands, `conn` being the primary and `reads` a
    connection to the standby, or None when it gave none (the read routes use the primary then)."""
    if reads is None:
        return {
            "up": False,
            "in_recovery": None,
            "replay_paused": None,
            "replay_lag_s": None,
            "behind_bytes": None,
        }
    return {"up": True, **replication.standby_state(reads, replication.wal_position(conn))}


def _job(summary: dict[str, Any], next_run_at: datetime | None) -> dict[str, Any]:
    last = None
    if summary["id"] is not None:
        last = {
            k: summary[k]
            for k in ("id", "worker_id", "started_at", "finished_at", "outcome", "done", "error")
        }
    return {"job": summary["job"], "last": last, "runs": summary["since_counts"], "next_run_at": next_run_at}


def flood_rates(conn: psycopg.Connection[Any], now: datetime) -> dict[str, Any]:
    """New alerts and cases per community over the last 10 minutes, against the flood threshold."""
    return {
        "window_s": int(FLOOD_WINDOW.total_seconds()),
        "flood_above": FLOOD_ABOVE,
        "communities": [
            {**r, "flood": r["alerts"] > FLOOD_ABOVE or r["cases"] > FLOOD_ABOVE}
            for r in storms.new_per_community(conn, now - FLOOD_WINDOW)
        ],
    }
