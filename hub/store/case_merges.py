"""Merged cases (`case_merges`): which case went into which, and the alert links the merge added."""

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.domain.cases import Place
from hub.store.sql import OPEN_STATUS_LIST


def active_merge_of(conn: psycopg.Connection[Any], merged_case_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, merged_case_id, surviving_case_id, merged_from_status, moved_alerts FROM case_merges "
            "WHERE merged_case_id = %s AND split_at IS NULL",
            (merged_case_id,),
        ).fetchone()


def merged_into(conn: psycopg.Connection[Any], surviving_case_id: int) -> list[dict[str, Any]]:
    """Active merges into the case, with each merged case's reporter and source."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT m.id, m.merged_case_id, r.reporter_id, r.source FROM case_merges m "
            "JOIN cases r ON r.id = m.merged_case_id "
            "WHERE m.surviving_case_id = %s AND m.split_at IS NULL ORDER BY m.id",
            (surviving_case_id,),
        ).fetchall()


def insert_merge(
    conn: psycopg.Connection[Any],
    *,
    merged: int,
    surviving: int,
    from_status: str,
    by: str,
    by_id: int | None,
    at: datetime,
    note: str | None,
    moved_alerts: list[int],
) -> int:
    row = conn.execute(
        "INSERT INTO case_merges (merged_case_id, surviving_case_id, merged_from_status, merged_by, merged_by_id, "
        "merged_at, note, moved_alerts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (merged, surviving, from_status, by, by_id, at, note, moved_alerts),
    ).fetchone()
    assert row is not None
    return int(row[0])


def mark_split(conn: psycopg.Connection[Any], merge_id: int, by: str, at: datetime) -> None:
    conn.execute("UPDATE case_merges SET split_by = %s, split_at = %s WHERE id = %s", (by, at, merge_id))


def link_missing_alerts(conn: psycopg.Connection[Any], from_case: int, to_case: int) -> list[int]:
    """Link `from_case`'s alerts to `to_case` too; returns the alert ids that were not linked yet."""
    return [
        int(r[0])
        for r in conn.execute(
            "INSERT INTO case_alerts (case_id, alert_id) SELECT %s, alert_id FROM case_alerts WHERE case_id = %s "
            "ON CONFLICT DO NOTHING RETURNING alert_id",
            (to_case, from_case),
        )
    ]


def unlink_alerts(conn: psycopg.Connection[Any], case_id: int, alert_ids: list[int]) -> None:
    conn.execute("DELETE FROM case_alerts WHERE case_id = %s AND alert_id = ANY(%s)", (case_id, alert_ids))


def repoint(conn: psycopg.Connection[Any], from_surviving: int, to_surviving: int) -> None:
    """A surviving case absorbed into another (correlation): its merged cases now point there."""
    conn.execute(
        "UPDATE case_merges SET surviving_case_id = %s WHERE surviving_case_id = %s AND split_at IS NULL "
        "AND merged_case_id <> %s",
        (to_surviving, from_surviving, to_surviving),
    )


def alert_case_for_report(
    conn: psycopg.Connection[Any], report_id: int, place: Place, window: timedelta
) -> int | None:
    """The open alert-raised case about the same place (the device, or the building and category)
    opened within `window` of `at`: a device match first, then the most recent."""
    row = conn.execute(
        """
        SELECT id FROM cases
        WHERE community_id = %(community)s AND source = 'alert' AND status = ANY(%(open)s) AND id <> %(report)s
          AND ((%(device)s::text IS NOT NULL AND device_id = %(device)s::text)
               OR (%(building)s::text IS NOT NULL AND building = %(building)s::text AND category = %(category)s))
          AND created_at BETWEEN %(start)s AND %(end)s
        ORDER BY (device_id IS NOT DISTINCT FROM %(device)s::text) DESC, created_at DESC, id DESC
        LIMIT 1
        """,
        {"open": OPEN_STATUS_LIST, "report": report_id, **_place(place, window)},
    ).fetchone()
    return None if row is None else int(row[0])


def reports_for_alert_case(
    conn: psycopg.Connection[Any], alert_case_id: int, place: Place, window: timedelta
) -> list[int]:
    """Open residents' reports about the same place within `window` of `at`, oldest first."""
    return [
        int(r[0])
        for r in conn.execute(
            """
            SELECT id FROM cases
            WHERE community_id = %(community)s AND source = 'resident' AND status = ANY(%(open)s)
              AND id <> %(case)s
              AND ((%(device)s::text IS NOT NULL AND device_id = %(device)s::text)
                   OR (%(building)s::text IS NOT NULL AND building = %(building)s::text
                       AND category = %(category)s))
              AND created_at BETWEEN %(start)s AND %(end)s
              AND NOT EXISTS (SELECT 1 FROM case_merges m WHERE m.surviving_case_id = cases.id
                              AND m.split_at IS NULL)
            ORDER BY created_at, id
            """,
            {"open": OPEN_STATUS_LIST, "case": alert_case_id, **_place(place, window)},
        )
    ]


def split_before(conn: psycopg.Connection[Any], merged_case_id: int, surviving_case_id: int) -> bool:
    """Whether this pair was merged and split before; an automatic merge does not redo an undone one."""
    row = conn.execute(
        "SELECT 1 FROM case_merges WHERE merged_case_id = %s AND surviving_case_id = %s AND split_at IS NOT NULL",
        (merged_case_id, surviving_case_id),
    ).fetchone()
    return row is not None


def _place(place: Place, window: timedelta) -> dict[str, Any]:
    return {
        "community": place.community,
        "device": place.device_id,
        "building": place.building,
        "category": place.category,
        "start": place.at - window,
        "end": place.at + window,
    }
