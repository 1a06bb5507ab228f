"""Silences: an operator's 'not now' for a rule, a device, a building or a community."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

_COLUMNS = (
    "id, rule_id, device_id, community_id, building, starts_at, ends_at, reason, created_by, created_at, "
    "ended_by"
)
_STATE = "CASE WHEN starts_at > %(at)s THEN 'scheduled' WHEN ends_at > %(at)s THEN 'active' ELSE 'ended' END AS state"


def create(
    conn: psycopg.Connection[Any],
    *,
    rule_id: str | None,
    device_id: str | None,
    community_id: str | None,
    building: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO silences (rule_id, device_id, community_id, building, starts_at, ends_at, reason, created_by) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (rule_id, device_id, community_id, building, starts_at, ends_at, reason, created_by),
        ).fetchone()
        assert row is not None
        return row


def listed(
    conn: psycopg.Connection[Any],
    at: datetime,
    communities: list[str] | None = None,
    ended_since: datetime | None = None,
) -> list[dict[str, Any]]:
    """In force at `at`; with `ended_since`, also those still to start and those that ended since then:
    in force and coming first (soonest end first), then the ended ones, latest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS}, {_STATE} FROM silences "  # noqa: S608 - constants
            "WHERE (CASE WHEN %(since)s::timestamptz IS NULL THEN starts_at <= %(at)s AND ends_at > %(at)s "
            "ELSE ends_at > %(since)s::timestamptz END) "
            "AND (%(c)s::text[] IS NULL OR community_id = ANY(%(c)s::text[])) "
            "ORDER BY ends_at <= %(at)s, CASE WHEN ends_at > %(at)s THEN ends_at END, ends_at DESC, id DESC",
            {"at": at, "c": communities, "since": ended_since},
        ).fetchall()


def end(conn: psycopg.Connection[Any], silence_id: int, at: datetime, by: str) -> bool:
    """A silence not started yet ends before its start, so it never covers anything."""
    row = conn.execute(
        "UPDATE silences SET starts_at = LEAST(starts_at, %(at)s - interval '1 microsecond'), ends_at = %(at)s, "
        "ended_by = %(by)s WHERE id = %(id)s AND ends_at > %(at)s RETURNING id",
        {"at": at, "by": by, "id": silence_id},
    ).fetchone()
    return row is not None


def matching(
    conn: psycopg.Connection[Any],
    *,
    rule_id: str,
    device_id: str,
    community_id: str,
    building: str | None,
    at: datetime,
) -> int | None:
    """The id of an active silence covering this alert, if any: every field it sets must match."""
    row = conn.execute(
        """
        SELECT id FROM silences
        WHERE starts_at <= %(at)s AND ends_at > %(at)s
          AND (rule_id IS NULL OR rule_id = %(rule)s)
          AND (device_id IS NULL OR device_id = %(device)s)
          AND (community_id IS NULL OR community_id = %(community)s)
          AND (building IS NULL OR building = %(building)s)
        ORDER BY id LIMIT 1
        """,
        {"at": at, "rule": rule_id, "device": device_id, "community": community_id, "building": building},
    ).fetchone()
    return None if row is None else int(row[0])
