"""Organisations (admins only): their records, the teams they own and the integration accounts bound to
them.

A case sent to a team an organisation owns is the organisation's case; an account bound to it sees and
acts on those cases only (`hub.services.cases`, `hub.cases.acting`). A team's communities must lie
within the organisation's, so the organisation never owns work outside the places it serves."""

from dataclasses import dataclass
from typing import Any

import psycopg

from hub.domain.errors import Conflict, Invalid, NotFound
from hub.domain.organisations import OrganisationKind
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services.scope import check_communities
from hub.store import organisations as org_store
from hub.store import teams as team_store
from hub.store import users as user_store


@dataclass(frozen=True)
class OrganisationRecord:
    kind: OrganisationKind
    name_en: str
    name_zh: str
    communities: tuple[str, ...]


def organisations(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return org_store.organisations(conn)


def get(conn: psycopg.Connection[Any], organisation: str) -> dict[str, Any]:
    found = org_store.organisation(conn, organisation)
    if found is None:
        raise NotFound(f"no organisation {organisation}; create it with POST /organisations")
    return found


def create(
    conn: psycopg.Connection[Any], user: User, organisation: str, record: OrganisationRecord
) -> dict[str, Any]:
    _check(conn, user, record)
    if not org_store.create(
        conn, organisation, record.kind, record.name_en, record.name_zh, sorted(set(record.communities))
    ):
        raise Conflict(
            f"organisation {organisation} exists; change it with PATCH /organisations/{organisation}"
        )
    return get(conn, organisation)


def update(
    conn: psycopg.Connection[Any], user: User, organisation: str, change: dict[str, Any]
) -> dict[str, Any]:
    """`change` holds the fields given (kind, name_en, name_zh, communities); the others stay. Narrowing
    the communities is refused while a team of the organisation serves one left out."""
    found = _locked(conn, organisation)
    record = OrganisationRecord(
        OrganisationKind(change.get("kind", found["kind"])),
        change.get("name_en", found["name_en"]),
        change.get("name_zh", found["name_zh"]),
        tuple(sorted(set(change.get("communities", found["communities"])))),
    )
    _check(conn, user, record)
    for team in found["teams"]:
        _team_fits(conn, team, record.communities, organisation)
    org_store.update(conn, organisation, record.kind, record.name_en, record.name_zh, record.communities)
    return get(conn, organisation)


def delete(conn: psycopg.Connection[Any], organisation: str) -> None:
    """Only an organisation with no team, no account and no member goes (unbind the teams and accounts
    first; members, like every account, are never deleted, so an organisation that had people stays)."""
    found = _locked(conn, organisation)
    uses = [f"team(s) {', '.join(found['teams'])}" if found["teams"] else ""]
    uses.append(f"account(s) {', '.join(found['accounts'])}" if found["accounts"] else "")
    uses.append(f"member(s) {', '.join(found['members'])}" if found["members"] else "")
    if any(uses):
        raise Conflict(
            f"organisation {organisation} still has {' and '.join(u for u in uses if u)}; unbind them first"
        )
    org_store.delete(conn, organisation)


def bind_team(conn: psycopg.Connection[Any], organisation: str, team: str) -> dict[str, Any]:
    """The organisation owns the team from now on: the team's cases, open and new, are its cases. A
    team owned by another organisation is moved only after being unbound there."""
    found = _locked(conn, organisation)
    record = team_store.team(conn, team)
    if record is None:
        raise NotFound(f"team {team} has no record; create it with POST /teams first")
    owner = record["organisation"]
    if owner not in (None, organisation):
        raise Conflict(f"team {team} belongs to {owner}; unbind it there first")
    _team_fits(conn, team, found["communities"], organisation)
    org_store.bind_team(conn, team, organisation)
    return get(conn, organisation)


def unbind_team(conn: psycopg.Connection[Any], organisation: str, team: str) -> dict[str, Any]:
    found = _locked(conn, organisation)
    if team not in found["teams"]:
        raise NotFound(f"team {team} does not belong to {organisation}")
    org_store.bind_team(conn, team, None)
    return get(conn, organisation)


def bind_account(conn: psycopg.Connection[Any], organisation: str, username: str) -> dict[str, Any]:
    """Bind an integration account: it acts for the organisation from its next request on."""
    _locked(conn, organisation)
    account = user_store.account(conn, username)
    if account is None:
        raise NotFound(f"no user {username}")
    if account["role"] != Role.INTEGRATION:
        raise Invalid(
            f"{username} is a {account['role']}: only integration accounts are bound to an organisation"
        )
    if account["organisation"] not in (None, organisation):
        raise Conflict(f"{username} is bound to {account['organisation']}; unbind it there first")
    user_store.set_organisation(conn, account["id"], organisation)
    return get(conn, organisation)


def unbind_account(conn: psycopg.Connection[Any], organisation: str, username: str) -> dict[str, Any]:
    _locked(conn, organisation)
    account = user_store.account(conn, username)
    if account is None or account["organisation"] != organisation:
        raise NotFound(f"{username} is not bound to {organisation}")
    if account["role"] == Role.MEMBER:
        raise Invalid(f"{username} is a member of {organisation} for good; disable the account instead")
    user_store.set_organisation(conn, account["id"], None)
    return get(conn, organisation)


def _locked(conn: psycopg.Connection[Any], organisation: str) -> dict[str, Any]:
    if not org_store.lock(conn, organisation):
        raise NotFound(f"no organisation {organisation}; create it with POST /organisations")
    return get(conn, organisation)


def _team_fits(
    conn: psycopg.Connection[Any], team: str, communities: tuple[str, ...], organisation: str
) -> None:
    record = team_store.team(conn, team)
    served = set(record["communities"]) if record else set()
    if not served:
        raise Invalid(f"team {team} serves every community; give it communities of {organisation} first")
    if not served <= set(communities):
        outside = ", ".join(sorted(served - set(communities)))
        raise Invalid(f"team {team} serves {outside}, which {organisation} does not serve")


def _check(conn: psycopg.Connection[Any], user: User, record: OrganisationRecord) -> None:
    if not record.communities:
        raise Invalid("name the communities the organisation serves (at least one)")
    check_communities(conn, user, record.communities)
