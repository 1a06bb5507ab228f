"""The dead-letter store: what was refused, from where, why, and its first bytes. Pages are keyset pages
on (received_at, id), newest first."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class DeadLetter:
    received_at: datetime
    topic: str
    client_id: str | None
    reason: str
    payload_head: bytes
    payload_size: int
    origin: tuple[str, str, str] | None = None
    """(community, kind, device id) as the topic names them"""
    adapter: str | None = None
    step: str | None = None
    """where the adapter's mapping or the native checks after it refused the message"""
    payload: bytes | None = None
    """the whole vendor message, kept for a message an adapter refused"""


@dataclass(frozen=True)
class Filters:
    """Each one given narrows the list; `communities` is the caller's scope (None: every community, and
    the refusals whose topic names none)."""

    communities: list[str] | None = None
    device: str | None = None
    community: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def insert(conn: psycopg.Connection[Any], rows: Sequence[DeadLetter]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY dead_letters (received_at, topic, client_id, reason, payload_head, payload_size, "
            "community_id, kind, device_id, adapter, step, payload) FROM STDIN"
        ) as copy,
    ):
        for r in rows:
            copy.write_row(
                (
                    r.received_at,
                    r.topic,
                    r.client_id,
                    r.reason,
                    r.payload_head,
                    r.payload_size,
                    *(r.origin or (None,) * 3),
                    r.adapter,
                    r.step,
                    r.payload,
                )
            )


_WHERE = """
    (%(communities)s::text[] IS NULL OR l.community_id = ANY(%(communities)s::text[]))
    AND (%(device)s::text IS NULL OR l.device_id = %(device)s::text)
    AND (%(community)s::text IS NULL OR l.community_id = %(community)s::text)
    AND (%(code)s::text IS NULL OR l.code = %(code)s::text)
    AND (%(since)s::timestamptz IS NULL OR l.received_at >= %(since)s::timestamptz)
    AND (%(until)s::timestamptz IS NULL OR l.received_at < %(until)s::timestamptz)
"""


def _params(f: Filters) -> dict[str, Any]:
    return {
        "communities": f.communities,
        "device": f.device,
        "community": f.community,
        "code": f.code,
        "since": f.since,
        "until": f.until,
    }


def page(
    conn: psycopg.Connection[Any], f: Filters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, each with whether its device is registered now; `after` is the (time, id) of the
    last row of the previous page."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT l.id, l.received_at, l.topic, l.client_id, l.reason, l.code, l.community_id, l.kind, "
            "l.device_id, l.adapter, l.step, l.payload_size, l.payload_head, d.id IS NOT NULL AS registered "
            "FROM dead_letters l LEFT JOIN devices d ON d.id = l.device_id WHERE"
            + _WHERE
            + "AND (%(after_t)s::timestamptz IS NULL OR (l.received_at, l.id) < (%(after_t)s::timestamptz, "
            "%(after_id)s::bigint)) ORDER BY l.received_at DESC, l.id DESC LIMIT %(limit)s",
            {
                **_params(f),
                "after_t": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit,
            },
        ).fetchall()


def counts(conn: psycopg.Connection[Any], f: Filters, bucket: Literal["hour", "day"]) -> list[dict[str, Any]]:
    """Refusals per (bucket start, code), in time order; buckets are UTC hours or days."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT date_trunc(%(bucket)s, l.received_at, 'UTC') AS start, l.code, count(*)::int AS count "
            "FROM dead_letters l WHERE" + _WHERE + "GROUP BY 1, 2 ORDER BY 1, 2",
            {**_params(f), "bucket": bucket},
        ).fetchall()


def by_reason(conn: psycopg.Connection[Any], since: datetime) -> list[dict[str, Any]]:
    """Messages refused since `since` per reason code (as the ingest counters key them), each with the
    latest reason in full."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT code AS reason, count(*) AS count, max(received_at) AS latest_at,
                   (array_agg(reason ORDER BY received_at DESC))[1] AS latest
            FROM dead_letters WHERE received_at >= %s
            GROUP BY 1 ORDER BY count(*) DESC, 1
            """,
            (since,),
        ).fetchall()
