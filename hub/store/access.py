"""Reading a gate's access events: personal data, so only pseudonyms leave the table (raw identities
were never stored) and every read is audited by the API."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

BIGINT_MIN = -(2**63)


def page(
    conn: psycopg.Connection[Any],
    device_id: str,
    start: datetime,
    end: datetime,
    *,
    result: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Events in [start, end), newest first, after the (time, seq) of the previous page's last row.

    Without a cursor the keyset bound is (end, smallest seq), which `time < end` already implies, so
    there is one query text. `time <= after_time` repeats the bound on its own so the index on
    (device_id, time DESC) starts at the cursor instead of skipping the pages before it."""
    after_time, after_seq = after if after is not None else (end, BIGINT_MIN)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT time, seq, result, method, direction, person_pseudonym
            FROM access_events
            WHERE device_id = %(device)s AND time >= %(start)s AND time < %(end)s
              AND time <= %(after_time)s AND (time, seq) < (%(after_time)s, %(after_seq)s)
              AND (%(result)s::text IS NULL OR result = %(result)s::text)
            ORDER BY time DESC, seq DESC
            LIMIT %(limit)s
            """,
            {
                "device": device_id,
                "start": start,
                "end": end,
                "after_time": after_time,
                "after_seq": after_seq,
                "result": result,
                "limit": limit,
            },
        ).fetchall()
