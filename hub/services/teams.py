"""Team membership: who claims the cases routed to a team. Teams span communities, so no scope applies."""

from typing import Any

import psycopg

from hub.domain.errors import NotFound
from hub.store import cases as case_store


def teams(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Each team with its members' usernames; a team is known by its members, so none means no team."""
    return case_store.teams(conn)


def add_member(conn: psycopg.Connection[Any], team: str, username: str) -> None:
    """Adding a member twice is no error: the request says what membership should be."""
    if not case_store.add_member(conn, team, username):
        raise NotFound(f"no user {username}")


def remove_member(conn: psycopg.Connection[Any], team: str, username: str) -> None:
    if not case_store.remove_member(conn, team, username):
        raise NotFound(f"{username} is not a member of {team}")
