"""Communities and their sites in the admin console: names, time zone, working calendar, coordinates,
grids and buildings. Only admins create a community; a manager changes their own communities; the others
look absent to them."""

from dataclasses import fields, replace
from typing import Any

import psycopg

from hub.cases.config import DispatchConfig
from hub.domain.communities import Community, Place
from hub.domain.errors import Conflict, Invalid, NotFound
from hub.domain.users import User
from hub.domain.zones import known_zone
from hub.store import communities as community_store


def listing(conn: psycopg.Connection[Any], user: User) -> list[dict[str, Any]]:
    return community_store.communities(conn, user.community_scope())


def get(
    conn: psycopg.Connection[Any], user: User, community: str, dispatch: DispatchConfig
) -> dict[str, Any]:
    """The community with its grids and buildings, the calendars the routing file offers, and whether
    the one it names is among them."""
    scope = user.community_scope()
    found = community_store.community(conn, community) if scope is None or community in scope else None
    if found is None:
        raise NotFound(f"no community {community} in your communities")
    options = sorted(dispatch.calendars)
    return {**found, "calendars": options, "calendar_known": found["calendar"] in (None, *options)}


def create(
    conn: psycopg.Connection[Any], user: User, community: Community, dispatch: DispatchConfig
) -> dict[str, Any]:
    if not community_store.create(conn, _checked(community, dispatch)):
        raise Conflict(f"community {community.id} exists; change it instead")
    return get(conn, user, community.id, dispatch)


def update(
    conn: psycopg.Connection[Any],
    user: User,
    community: str,
    change: dict[str, Any],
    dispatch: DispatchConfig,
) -> dict[str, Any]:
    """`change` holds the fields given; the others stay (null clears an optional one)."""
    current = get(conn, user, community, dispatch)
    stored = Community(**{f.name: current[f.name] for f in fields(Community)})
    community_store.update(conn, _checked(replace(stored, **change), dispatch))
    return get(conn, user, community, dispatch)


def put_place(
    conn: psycopg.Connection[Any],
    user: User,
    community: str,
    kind: Place,
    place: str,
    names: tuple[str, str],
    grid: str | None,
    dispatch: DispatchConfig,
) -> dict[str, Any]:
    """Create or rename a grid or building; the community after it."""
    get(conn, user, community, dispatch)
    if kind == "grid":
        community_store.put_grid(conn, community, place, *names)
    else:
        if grid is not None and not community_store.grid_exists(conn, community, grid):
            raise Invalid(f"no grid {grid} in {community}: give the grid its name first")
        community_store.put_building(conn, community, place, grid, *names)
    return get(conn, user, community, dispatch)


def delete_place(
    conn: psycopg.Connection[Any],
    user: User,
    community: str,
    kind: Place,
    place: str,
    dispatch: DispatchConfig,
) -> None:
    """A grid or building with devices or buildings in it stays: rename it instead."""
    get(conn, user, community, dispatch)
    exists, devices, buildings = community_store.place_uses(conn, community, kind, place)
    if not exists:
        raise NotFound(f"no {kind} {place} with a name in {community}")
    if devices or buildings:
        held = [f"{devices} device(s)"] * bool(devices) + [f"{buildings} building(s)"] * bool(buildings)
        raise Conflict(f"{kind} {place} holds {' and '.join(held)}; rename it instead")
    community_store.delete_place(conn, community, kind, place)


def _checked(c: Community, dispatch: DispatchConfig) -> Community:
    if not c.name:
        raise Invalid("a community needs a name")
    if c.timezone is not None:
        try:
            known_zone(c.timezone)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    if c.calendar is not None and c.calendar not in dispatch.calendars:
        known = ", ".join(sorted(dispatch.calendars)) or "none"
        raise Invalid(
            f"the routing file has no calendar {c.calendar!r} (it has: {known}); leave it empty for its own"
        )
    if (c.latitude is None) != (c.longitude is None):
        raise Invalid("give latitude and longitude together, or neither")
    return c
