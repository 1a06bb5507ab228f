"""Saved versions of rule files (the source of truth for every worker's rules directory) and what each
worker has loaded."""

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

RULES_LOCK = 0x5C_4855_4040
"""Held exclusively by a save until it commits, shared by a worker bringing its files up to date."""

_VERSION = (
    "id, file_name, content_hash, source, restored_from, saved_by, saved_at, check_result"  # no content
)


def lock(conn: psycopg.Connection[Any]) -> None:
    """In a transaction: wait for other saves, and keep workers from syncing until this one commits."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))


def lock_shared(conn: psycopg.Connection[Any], *, wait: bool) -> bool:
    """In a transaction: keep saves out while this worker syncs; without `wait`, False if one is running."""
    if wait:
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (RULES_LOCK,))
        return True
    row = conn.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", (RULES_LOCK,)).fetchone()
    return bool(row and row[0])


def latest(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    """The latest version of each saved file: name → (version id, content hash)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (file_name) file_name, id, content_hash FROM rule_file_versions "
        "ORDER BY file_name, id DESC"
    ).fetchall()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def latest_versions(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The latest version of each saved file, without its content."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT DISTINCT ON (file_name) {_VERSION} FROM rule_file_versions "  # noqa: S608 - constant
            "ORDER BY file_name, id DESC"
        ).fetchall()


def contents(conn: psycopg.Connection[Any], ids: list[int]) -> dict[int, str]:
    return dict(
        conn.execute("SELECT id, content FROM rule_file_versions WHERE id = ANY(%s)", (ids,)).fetchall()
    )


def history(conn: psycopg.Connection[Any], file_name: str, limit: int) -> list[dict[str, Any]]:
    """A file's versions, newest first, without their content."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_VERSION} FROM rule_file_versions WHERE file_name = %s "  # noqa: S608 - constant
            "ORDER BY id DESC LIMIT %s",
            (file_name, limit),
        ).fetchall()


def version(conn: psycopg.Connection[Any], file_name: str, version_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_VERSION}, content FROM rule_file_versions "  # noqa: S608 - constant
            "WHERE file_name = %s AND id = %s",
            (file_name, version_id),
        ).fetchone()


def insert(
    conn: psycopg.Connection[Any],
    *,
    file_name: str,
    content: str,
    content_hash: str,
    source: str,
    restored_from: int | None,
    saved_by: str,
    check_result: dict[str, Any],
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO rule_file_versions "  # noqa: S608 - the interpolated text is a constant
            "(file_name, content, content_hash, source, restored_from, saved_by, check_result) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_VERSION}",
            (file_name, content, content_hash, source, restored_from, saved_by, Jsonb(check_result)),
        ).fetchone()
        assert row is not None
        return row


def record_load(
    conn: psycopg.Connection[Any], worker: str, files: dict[str, str], rule_count: int, errors: list[Any]
) -> None:
    """What `worker` has in force after a load or a reload (a refused one keeps `files` as they were)."""
    conn.execute(
        "INSERT INTO rule_loads (worker_id, files, rule_count, errors, loaded_at, seen_at) "
        "VALUES (%s, %s, %s, %s, now(), now()) ON CONFLICT (worker_id) DO UPDATE SET files = EXCLUDED.files, "
        "rule_count = EXCLUDED.rule_count, errors = EXCLUDED.errors, loaded_at = now(), seen_at = now()",
        (worker, Jsonb(files), rule_count, Jsonb(errors)),
    )


def record_seen(conn: psycopg.Connection[Any], worker: str) -> None:
    conn.execute("UPDATE rule_loads SET seen_at = now() WHERE worker_id = %s", (worker,))


def loads(conn: psycopg.Connection[Any], within_s: float, alive_s: float) -> list[dict[str, Any]]:
    """Workers seen in the last `within_s` seconds (database clock) with what they have in force, alive
    if seen in the last `alive_s`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT worker_id, files, rule_count, errors, loaded_at, seen_at, "
            "seen_at > now() - make_interval(secs => %s) AS alive FROM rule_loads "
            "WHERE seen_at > now() - make_interval(secs => %s) ORDER BY worker_id",
            (alive_s, within_s),
        ).fetchall()
