"""Where a streaming standby stands against its primary, from the two servers' own functions."""

from typing import Any

import psycopg
from psycopg.rows import dict_row


def wal_position(conn: psycopg.Connection[Any]) -> str:
    """The primary's current write-ahead log position."""
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def standby_state(conn: psycopg.Connection[Any], primary_position: str) -> dict[str, Any]:
    """On the standby: whether it is in recovery and replay is paused; `replay_lag_s`, 0 when it has
    replayed everything it received, else the age of the last transaction it replayed (the usual reading
    of `pg_last_xact_replay_timestamp()`, which alone would grow while the primary is idle); and
    `behind_bytes`, how far its replay is behind `primary_position`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """
            SELECT pg_is_in_recovery() AS in_recovery,
                   CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused,
                   CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                        ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8
                   END AS replay_lag_s,
                   greatest(0, pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()))::bigint AS behind_bytes
            """,
            (primary_position,),
        ).fetchone()
    assert row is not None
    return row
