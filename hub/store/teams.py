"""Team records: an id (the one `team_members`, cases and the routing file use), names in English and
Chinese and the communities the team serves. A team known only by its members has no record and still
works; membership itself is in `hub.store.cases` next to the claim queue."""

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.store.sql import OPEN_CASE


def teams(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every team with a record or a member: names (None without a record), communities, members'
    usernames and the number of open cases it holds."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            WITH ids AS (SELECT id FROM teams UNION SELECT team FROM team_members),
            open_cases AS (SELECT team, count(*)::int AS n FROM cases WHERE {OPEN_CASE} GROUP BY team)
            SELECT i.id AS team, t.name_en, t.name_zh, coalesce(t.communities, '{{}}') AS communities,
                   t.id IS NOT NULL AS in_table,
                   coalesce(array_agg(u.username ORDER BY u.username) FILTER (WHERE u.id IS NOT NULL), '{{}}')
                       AS members,
                   coalesce(min(o.n), 0) AS open_cases
            FROM ids i
            LEFT JOIN teams t ON t.id = i.id
            LEFT JOIN team_members m ON m.team = i.id
            LEFT JOIN users u ON u.id = m.user_id
            LEFT JOIN open_cases o ON o.team = i.id
            GROUP BY i.id, t.id
            ORDER BY i.id
            """  # noqa: S608 - the interpolated text is a constant
        ).fetchall()


def names(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id AS team, name_en, name_zh FROM teams ORDER BY id").fetchall()


def team(conn: psycopg.Connection[Any], team_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id AS team, name_en, name_zh, communities, organisation FROM teams WHERE id = %s",
            (team_id,),
        ).fetchone()


def create(
    conn: psycopg.Connection[Any], team_id: str, name_en: str, name_zh: str, communities: Collection[str]
) -> bool:
    """False when the id has a record already."""
    row = conn.execute(
        "INSERT INTO teams (id, name_en, name_zh, communities) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        (team_id, name_en, name_zh, list(communities)),
    ).fetchone()
    return row is not None


def update(
    conn: psycopg.Connection[Any], team_id: str, name_en: str, name_zh: str, communities: Collection[str]
) -> None:
    conn.execute(
        "UPDATE teams SET name_en = %s, name_zh = %s, communities = %s WHERE id = %s",
        (name_en, name_zh, list(communities), team_id),
    )


def delete(conn: psycopg.Connection[Any], team_id: str) -> None:
    conn.execute("DELETE FROM teams WHERE id = %s", (team_id,))


def uses(conn: psycopg.Connection[Any], team_id: str) -> tuple[int, bool]:
    """(members, whether any case names it, open or done), locking the record against a concurrent use."""
    conn.execute("SELECT 1 FROM teams WHERE id = %s FOR UPDATE", (team_id,))
    row = conn.execute(
        "SELECT (SELECT count(*) FROM team_members WHERE team = %(t)s), "
        "EXISTS (SELECT 1 FROM cases WHERE team = %(t)s)",
        {"t": team_id},
    ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])
