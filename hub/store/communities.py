"""Communities as set up in the admin console: names, time zone, working calendar, coordinates, and the
named grids and buildings. A grid or building a device names without a record is listed too (unnamed),
since devices reference them by id as plain text."""

from collections.abc import Collection
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.domain.communities import Community, Place

_FIELDS = "id, name, name_zh, timezone, calendar, latitude, longitude"


def missing(conn: psycopg.Connection[Any], ids: Collection[str]) -> list[str]:
    """Those of `ids` that are no community, sorted."""
    found = {r[0] for r in conn.execute("SELECT id FROM communities WHERE id = ANY(%s)", (list(ids),))}
    return sorted(set(ids) - found)


def names(conn: psycopg.Connection[Any], ids: Collection[str]) -> list[dict[str, Any]]:
    """`id`, `name` and `name_zh` (None when not given) of those of `ids` that are communities."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, name, name_zh FROM communities WHERE id = ANY(%s) ORDER BY id", (list(ids),)
        ).fetchall()


def grid_names(
    conn: psycopg.Connection[Any], ids: Collection[str], scope: list[str] | None
) -> list[dict[str, Any]]:
    """`id`, `community_id`, `name_en` and `name_zh` of the named grids with one of `ids` in the
    communities of `scope` (None: all); a grid id is unique only within its community."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT id, community_id, name_en, name_zh FROM grids
            WHERE id = ANY(%(ids)s) AND (%(scope)s::text[] IS NULL OR community_id = ANY(%(scope)s::text[]))
            ORDER BY id, community_id
            """,
            {"ids": list(ids), "scope": scope},
        ).fetchall()


def communities(conn: psycopg.Connection[Any], scope: list[str] | None) -> list[dict[str, Any]]:
    """Communities in `scope` (None: all) with how many devices, grids and buildings each has."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""
            SELECT {_FIELDS},
                   (SELECT count(*) FROM devices d WHERE d.community_id = m.id)::int AS devices,
                   (SELECT count(*) FROM grids g WHERE g.community_id = m.id)::int AS grids,
                   (SELECT count(*) FROM buildings b WHERE b.community_id = m.id)::int AS buildings
            FROM communities m
            WHERE %(scope)s::text[] IS NULL OR m.id = ANY(%(scope)s::text[])
            ORDER BY m.id
            """,  # noqa: S608 - the interpolated text is a constant
            {"scope": scope},
        ).fetchall()


def community(conn: psycopg.Connection[Any], community_id: str) -> dict[str, Any] | None:
    """One community with its grids and buildings: those with a record and those only devices name
    (`named` false), each with its number of devices."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"SELECT {_FIELDS} FROM communities WHERE id = %s",  # noqa: S608 - a constant
            (community_id,),
        ).fetchone()
        if found is None:
            return None
        grids = cur.execute(
            """
            SELECT coalesce(g.id, d.grid) AS id, g.name_en, g.name_zh, g.id IS NOT NULL AS named,
                   coalesce(d.n, 0)::int AS devices
            FROM (SELECT id, name_en, name_zh FROM grids WHERE community_id = %(c)s) g
            FULL JOIN (SELECT grid, count(*) AS n FROM devices WHERE community_id = %(c)s AND grid IS NOT NULL
                       GROUP BY grid) d ON d.grid = g.id
            ORDER BY 1
            """,
            {"c": community_id},
        ).fetchall()
        buildings = cur.execute(
            """
            SELECT coalesce(b.id, d.building) AS id, coalesce(b.grid, d.grid) AS grid, b.name_en, b.name_zh,
                   b.id IS NOT NULL AS named, coalesce(d.n, 0)::int AS devices
            FROM (SELECT id, grid, name_en, name_zh FROM buildings WHERE community_id = %(c)s) b
            FULL JOIN (SELECT building, min(grid) AS grid, count(*) AS n FROM devices
                       WHERE community_id = %(c)s AND building IS NOT NULL GROUP BY building) d
                ON d.building = b.id
            ORDER BY 1
            """,
            {"c": community_id},
        ).fetchall()
    return {**found, "grids": grids, "buildings": buildings}


def create(conn: psycopg.Connection[Any], c: Community) -> bool:
    """False when the id is taken."""
    row = conn.execute(
        f"INSERT INTO communities ({_FIELDS}) VALUES (%(id)s, %(name)s, %(name_zh)s, %(timezone)s, "  # noqa: S608
        "%(calendar)s, %(latitude)s, %(longitude)s) ON CONFLICT (id) DO NOTHING RETURNING id",
        asdict(c),
    ).fetchone()
    return row is not None


def update(conn: psycopg.Connection[Any], c: Community) -> None:
    conn.execute(
        "UPDATE communities SET name = %(name)s, name_zh = %(name_zh)s, timezone = %(timezone)s, "
        "calendar = %(calendar)s, latitude = %(latitude)s, longitude = %(longitude)s WHERE id = %(id)s",
        asdict(c),
    )


def calendar_of(conn: psycopg.Connection[Any], community_id: str) -> str | None:
    """The working calendar a community names; None for the routing file's own."""
    row = conn.execute("SELECT calendar FROM communities WHERE id = %s", (community_id,)).fetchone()
    return None if row is None else row[0]


def put_grid(conn: psycopg.Connection[Any], community_id: str, grid: str, name_en: str, name_zh: str) -> None:
    conn.execute(
        "INSERT INTO grids (community_id, id, name_en, name_zh) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (community_id, id) DO UPDATE SET name_en = EXCLUDED.name_en, name_zh = EXCLUDED.name_zh",
        (community_id, grid, name_en, name_zh),
    )


def put_building(
    conn: psycopg.Connection[Any],
    community_id: str,
    building: str,
    grid: str | None,
    name_en: str,
    name_zh: str,
) -> None:
    conn.execute(
        "INSERT INTO buildings (community_id, id, grid, name_en, name_zh) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (community_id, id) DO UPDATE SET grid = EXCLUDED.grid, name_en = EXCLUDED.name_en, "
        "name_zh = EXCLUDED.name_zh",
        (community_id, building, grid, name_en, name_zh),
    )


def grid_exists(conn: psycopg.Connection[Any], community_id: str, grid: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM grids WHERE community_id = %s AND id = %s", (community_id, grid)
        ).fetchone()
        is not None
    )


def place_uses(
    conn: psycopg.Connection[Any], community_id: str, kind: str, place: str
) -> tuple[bool, int, int]:
    """Of a grid or building (`kind`): (has a record, devices in it, buildings in it (grids only)),
    with the record locked against a concurrent change."""
    table, column = {"grid": ("grids", "grid"), "building": ("buildings", "building")}[kind]
    exists = conn.execute(
        f"SELECT 1 FROM {table} WHERE community_id = %s AND id = %s FOR UPDATE",  # noqa: S608 - constants
        (community_id, place),
    ).fetchone()
    devices = conn.execute(
        f"SELECT count(*) FROM devices WHERE community_id = %s AND {column} = %s",  # noqa: S608 - constants
        (community_id, place),
    ).fetchone()
    inside = (
        conn.execute(
            "SELECT count(*) FROM buildings WHERE community_id = %s AND grid = %s", (community_id, place)
        ).fetchone()
        if kind == "grid"
        else (0,)
    )
    return exists is not None, int(devices[0]) if devices else 0, int(inside[0]) if inside else 0


def delete_place(conn: psycopg.Connection[Any], community_id: str, kind: Place, place: str) -> None:
    table = {"grid": "grids", "building": "buildings"}[kind]
    conn.execute(f"DELETE FROM {table} WHERE community_id = %s AND id = %s", (community_id, place))  # noqa: S608
