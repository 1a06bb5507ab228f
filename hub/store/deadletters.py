"""The dead-letter store: what was refused, from where, why, and its first bytes."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = tuple[datetime, str, str | None, str, bytes, int]


def insert(conn: psycopg.Connection[Any], rows: Sequence[Row]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY dead_letters (received_at, topic, client_id, reason, payload_head, payload_size) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def by_reason(conn: psycopg.Connection[Any], since: datetime) -> list[dict[str, Any]]:
    """Messages refused since `since` by the first word of their reason (as the ingest counters key
    them), each with the latest reason in full."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT split_part(split_part(reason, ':', 1), ' ', 1) AS reason, count(*) AS count,
                   max(received_at) AS latest_at, (array_agg(reason ORDER BY received_at DESC))[1] AS latest
            FROM dead_letters WHERE received_at >= %s
            GROUP BY 1 ORDER BY count(*) DESC, 1
            """,
            (since,),
        ).fetchall()
