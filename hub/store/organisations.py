"""Organisation records, the teams they own, the integration accounts bound to them and their members."""

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

_ORGANISATION = """
    SELECT o.id, o.kind, o.name_en, o.name_zh, o.communities, o.created_at,
           coalesce((SELECT array_agg(t.id ORDER BY t.id) FROM teams t WHERE t.organisation = o.id), '{}')
               AS teams,
           coalesce((SELECT array_agg(u.username ORDER BY u.username) FROM users u
                     WHERE u.organisation = o.id AND u.role = 'integration'), '{}') AS accounts,
           coalesce((SELECT array_agg(u.username ORDER BY u.username) FROM users u
                     WHERE u.organisation = o.id AND u.role = 'member'), '{}') AS members
    FROM organisations o
"""


def organisations(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_ORGANISATION + " ORDER BY o.id").fetchall()


def organisation(conn: psycopg.Connection[Any], organisation_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_ORGANISATION + " WHERE o.id = %s", (organisation_id,)).fetchone()


def create(
    conn: psycopg.Connection[Any],
    organisation_id: str,
    kind: str,
    name_en: str,
    name_zh: str,
    communities: Collection[str],
) -> bool:
    """False when the id is taken."""
    row = conn.execute(
        "INSERT INTO organisations (id, kind, name_en, name_zh, communities) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        (organisation_id, kind, name_en, name_zh, list(communities)),
    ).fetchone()
    return row is not None


def update(
    conn: psycopg.Connection[Any],
    organisation_id: str,
    kind: str,
    name_en: str,
    name_zh: str,
    communities: Collection[str],
) -> None:
    conn.execute(
        "UPDATE organisations SET kind = %s, name_en = %s, name_zh = %s, communities = %s WHERE id = %s",
        (kind, name_en, name_zh, list(communities), organisation_id),
    )


def delete(conn: psycopg.Connection[Any], organisation_id: str) -> None:
    conn.execute("DELETE FROM organisations WHERE id = %s", (organisation_id,))


def lock(conn: psycopg.Connection[Any], organisation_id: str) -> bool:
    """Hold the record against a concurrent binding or deletion; False when there is none."""
    row = conn.execute("SELECT 1 FROM organisations WHERE id = %s FOR UPDATE", (organisation_id,)).fetchone()
    return row is not None


def bind_team(conn: psycopg.Connection[Any], team: str, organisation_id: str | None) -> bool:
    """False when the team has no record."""
    row = conn.execute(
        "UPDATE teams SET organisation = %s WHERE id = %s RETURNING id", (organisation_id, team)
    ).fetchone()
    return row is not None
