"""Teams: their records (names in English and Chinese, the communities they serve) and membership, which
decides who claims the cases routed to a team (POST /cases/next).

A team is known by its id wherever cases go: the routing file and the rules name teams by id, and a team
they name works without a record (the console lists it as such). Admins manage every team; a manager
sees the teams serving one of their communities (and those serving every community) and manages those
serving only their own."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from hub.cases.config import DispatchConfig
from hub.domain.accounts import shares, within
from hub.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hub.domain.roles import HANDLERS, Role
from hub.domain.users import User
from hub.engine.schema import Rule
from hub.services.scope import check_communities
from hub.store import cases as case_store
from hub.store import organisations as org_store
from hub.store import teams as team_store
from hub.store import users as user_store


@dataclass(frozen=True)
class TeamRecord:
    name_en: str
    name_zh: str
    communities: tuple[str, ...]


def named_by(dispatch: DispatchConfig, rules: Iterable[Rule]) -> dict[str, list[str]]:
    """Team id → where cases are sent to it: `routing` (config/routing.yaml) and/or `rules`."""
    found: dict[str, list[str]] = {team: ["routing"] for team in dispatch.teams()}
    for team in sorted({r.dispatch.team for r in rules}):
        found.setdefault(team, []).append("rules")
    return found


def teams(conn: psycopg.Connection[Any], user: User, named: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The teams the caller sees: with a record or a member, and those only the configuration names."""
    rows = {t["team"]: t for t in team_store.teams(conn)}
    for team in named.keys() - rows.keys():
        rows[team] = {
            "team": team,
            "name_en": None,
            "name_zh": None,
            "communities": [],
            "in_table": False,
            "members": [],
            "open_cases": 0,
        }
    out = []
    for team in sorted(rows):
        row = rows[team]
        if row["communities"] and not shares(user, row["communities"]):
            continue
        out.append({**row, "named_by": named.get(team, []), "editable": _editable(user, row)})
    return out


def names(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every team record's names: every page that shows a team shows them in the reader's language."""
    return team_store.names(conn)


def create(
    conn: psycopg.Connection[Any], user: User, team: str, record: TeamRecord, named: dict[str, list[str]]
) -> dict[str, Any]:
    """A record for a new team, or for one the routing file, a rule, members or cases already use
    (admins only: such a team serves every community until its record says otherwise)."""
    _check_communities(conn, user, record.communities)
    if team_store.team(conn, team) is not None:
        raise Conflict(f"team {team} exists; change it with PATCH /teams/{team}")
    if user.role != Role.ADMIN and (team in named or any(team_store.uses(conn, team))):
        raise Forbidden(f"team {team} is in use across the hub; an admin gives it its record")
    team_store.create(conn, team, record.name_en, record.name_zh, record.communities)
    return _one(conn, user, team, named)


def update(
    conn: psycopg.Connection[Any], user: User, team: str, change: dict[str, Any], named: dict[str, list[str]]
) -> dict[str, Any]:
    """`change` holds the fields given (name_en, name_zh, communities); the others stay."""
    found = _record(conn, user, team)
    record = TeamRecord(
        change.get("name_en", found["name_en"]),
        change.get("name_zh", found["name_zh"]),
        tuple(change.get("communities", found["communities"])),
    )
    _check_communities(conn, user, record.communities)
    _within_organisation(conn, team, found["organisation"], record.communities)
    team_store.update(conn, team, record.name_en, record.name_zh, record.communities)
    return _one(conn, user, team, named)


def delete(conn: psycopg.Connection[Any], user: User, team: str, named: dict[str, list[str]]) -> None:
    """Only an unused team goes: no members, no case (open or done) and not named by the configuration."""
    _record(conn, user, team)
    members, has_cases = team_store.uses(conn, team)
    reasons = [
        f"{members} member(s)" if members else "",
        "cases" if has_cases else "",
        f"the {' and the '.join(named[team])} configuration names it" if team in named else "",
    ]
    if any(reasons):
        raise Conflict(f"team {team} is in use ({', '.join(r for r in reasons if r)}); it stays")
    team_store.delete(conn, team)


def add_member(conn: psycopg.Connection[Any], user: User, team: str, username: str) -> None:
    """Adding a member twice is no error: the request says what membership should be. Members are people
    who handle cases (admins, operators, managers) and whose account is enabled."""
    _manageable(conn, user, team)
    account = user_store.account(conn, username)
    if account is None or not shares(user, account["communities"]):
        raise NotFound(f"no user {username}" + ("" if user.role == Role.ADMIN else " in your communities"))
    if Role(account["role"]) not in HANDLERS:
        raise Invalid(f"{username} is a {account['role']}: only admins, operators and managers handle cases")
    if account["disabled_at"] is not None:
        raise Invalid(f"{username} is disabled; enable the account first")
    case_store.add_member(conn, team, username)


def remove_member(conn: psycopg.Connection[Any], user: User, team: str, username: str) -> None:
    _manageable(conn, user, team)
    if not case_store.remove_member(conn, team, username):
        raise NotFound(f"{username} is not a member of {team}")


def _one(conn: psycopg.Connection[Any], user: User, team: str, named: dict[str, list[str]]) -> dict[str, Any]:
    return next(t for t in teams(conn, user, named) if t["team"] == team)


def _editable(user: User, row: dict[str, Any]) -> bool:
    return user.role == Role.ADMIN or (row["in_table"] and within(user, row["communities"]))


def _record(conn: psycopg.Connection[Any], user: User, team: str) -> dict[str, Any]:
    """The team's record if the caller may change it."""
    found = team_store.team(conn, team)
    if found is None:
        raise NotFound(f"team {team} has no record; create it with POST /teams")
    if found["communities"] and not shares(user, found["communities"]):
        raise NotFound(f"no team {team} in your communities")
    if not within(user, found["communities"]):
        raise Forbidden(f"team {team} serves communities beyond yours; an admin changes it")
    return found


def _manageable(conn: psycopg.Connection[Any], user: User, team: str) -> None:
    """Admins change the membership of any team (with a record or not); managers of their own teams."""
    if user.role != Role.ADMIN:
        _record(conn, user, team)


def _within_organisation(
    conn: psycopg.Connection[Any], team: str, organisation: str | None, communities: tuple[str, ...]
) -> None:
    """A team an organisation owns serves only communities the organisation serves."""
    if organisation is None:
        return
    owner = org_store.organisation(conn, organisation)
    served = set(owner["communities"]) if owner else set()
    if not communities or not set(communities) <= served:
        raise Invalid(
            f"team {team} belongs to {organisation}: name communities among {', '.join(sorted(served))}"
        )


def _check_communities(conn: psycopg.Connection[Any], user: User, communities: tuple[str, ...]) -> None:
    """The communities exist and are the caller's; an empty list (every community) is for admins."""
    check_communities(conn, user, communities)
    if not within(user, communities):
        raise Invalid("name the communities the team serves (yours)")
