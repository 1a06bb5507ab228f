"""Leases on ingest partitions and worker heartbeats. Times come from the database's clock, the one clock
every worker shares."""

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row


def heartbeat(conn: psycopg.Connection[Any], worker: str, ttl_s: float) -> int:
    """Record that `worker` is alive; returns how many workers are (itself included)."""
    conn.execute(
        "INSERT INTO ingest_workers (worker_id, heartbeat_at) VALUES (%s, now()) "
        "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()",
        (worker,),
    )
    row = conn.execute(
        "SELECT count(*) FROM ingest_workers WHERE heartbeat_at > now() - make_interval(secs => %s)",
        (ttl_s,),
    ).fetchone()
    return int(row[0]) if row else 1


def leave(conn: psycopg.Connection[Any], worker: str) -> None:
    conn.execute("DELETE FROM ingest_workers WHERE worker_id = %s", (worker,))


def renew(conn: psycopg.Connection[Any], worker: str, ttl_s: float, count: int) -> set[int]:
    """Extend the worker's leases; returns the partitions it still holds. A lease that expired but that
    nobody took is still the worker's: nothing happened to the partition in between."""
    conn.execute(
        "INSERT INTO ingest_partitions (partition) SELECT generate_series(0, %s - 1) ON CONFLICT DO NOTHING",
        (count,),
    )
    rows = conn.execute(
        "UPDATE ingest_partitions SET lease_until = now() + make_interval(secs => %s) "
        "WHERE owner = %s AND partition < %s RETURNING partition",
        (ttl_s, worker, count),
    ).fetchall()
    return {int(r[0]) for r in rows}


def claim(conn: psycopg.Connection[Any], worker: str, ttl_s: float, count: int, wanted: int) -> set[int]:
    """Take up to `wanted` partitions nobody holds or whose lease expired."""
    if wanted <= 0:
        return set()
    rows = conn.execute(
        """
        UPDATE ingest_partitions p
        SET owner = %(worker)s, lease_until = now() + make_interval(secs => %(ttl)s), taken = taken + 1
        WHERE p.partition IN (
            SELECT partition FROM ingest_partitions
            WHERE partition < %(count)s AND (owner IS NULL OR lease_until < now())
            ORDER BY partition LIMIT %(wanted)s
            FOR UPDATE SKIP LOCKED)
        RETURNING p.partition
        """,
        {"worker": worker, "ttl": ttl_s, "count": count, "wanted": wanted},
    ).fetchall()
    return {int(r[0]) for r in rows}


def release(conn: psycopg.Connection[Any], worker: str, partitions: Collection[int]) -> None:
    conn.execute(
        "UPDATE ingest_partitions SET owner = NULL, lease_until = NULL WHERE owner = %s AND partition = ANY(%s)",
        (worker, list(partitions)),
    )


def owners(conn: psycopg.Connection[Any]) -> dict[int, str | None]:
    return {
        int(r[0]): r[1] for r in conn.execute("SELECT partition, owner FROM ingest_partitions ORDER BY 1")
    }


def communities(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM communities ORDER BY id")]


def leases(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every partition with its owner and whether its lease has run out (database clock)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT partition, owner, lease_until, coalesce(lease_until < now(), true) AS expired, taken "
            "FROM ingest_partitions ORDER BY partition"
        ).fetchall()


def workers(conn: psycopg.Connection[Any], ttl_s: float) -> list[dict[str, Any]]:
    """Workers that announced themselves, alive while their heartbeat is younger than a lease."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT worker_id, heartbeat_at, heartbeat_at > now() - make_interval(secs => %s) AS alive "
            "FROM ingest_workers ORDER BY worker_id",
            (ttl_s,),
        ).fetchall()
