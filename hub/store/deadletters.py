"""The dead-letter store: what was refused, from where, why, and its first bytes."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

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
