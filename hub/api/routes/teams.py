"""Teams: their records (names in English and Chinese, the communities they serve) and membership, which
decides who claims the cases routed to a team (POST /cases/next). Changes are audited."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, Field

from hub.api import retries
from hub.api.audit import Audit, audited
from hub.api.deps import Conn, CurrentUser, Dispatch, Steward, require
from hub.api.params import CommunityId, IdempotencyKey, Name, UsernamePath
from hub.cases.routing import TEAM_PATTERN
from hub.domain.roles import HANDLERS
from hub.domain.users import User
from hub.services import teams as team_service

router = APIRouter(tags=["teams"])

Team = Annotated[str, Path(pattern=TEAM_PATTERN)]


def named_teams(request: Request, dispatch: Dispatch) -> dict[str, list[str]]:
    """The teams the routing file and the rules in force send cases to."""
    rule_set = request.app.state.rule_set
    return team_service.named_by(dispatch, rule_set.rules if rule_set is not None else [])


Named = Annotated[dict[str, list[str]], Depends(named_teams)]


class TeamOut(BaseModel):
    team: str
    name_en: str | None = Field(description="null for a team without a record")
    name_zh: str | None
    communities: list[str] = Field(description="the communities it serves; empty: every community")
    in_table: bool = Field(description="the team has a record; without one it works by its id alone")
    members: list[str]
    open_cases: int
    named_by: list[Literal["routing", "rules"]] = Field(description="configuration that sends cases to it")
    editable: bool = Field(description="the caller may change its record and members")


class TeamNames(BaseModel):
    team: str
    name_en: str
    name_zh: str


class TeamIn(BaseModel):
    id: str = Field(pattern=TEAM_PATTERN, examples=["fire-safety"])
    name_en: Name
    name_zh: Name
    communities: list[CommunityId] = Field(default_factory=list, max_length=100)


class TeamChange(BaseModel):
    name_en: Name | None = None
    name_zh: Name | None = None
    communities: list[CommunityId] | None = Field(default=None, max_length=100)


@router.get("/teams", response_model=list[TeamOut])
def list_teams(
    conn: Conn, user: Annotated[User, Depends(require(*HANDLERS))], named: Named
) -> list[dict[str, Any]]:
    """Teams with a record or members and those the configuration names, with what the caller may
    change (a manager: the teams serving their communities, and those serving every community)."""
    return team_service.teams(conn, user, named)


@router.get("/teams/names", response_model=list[TeamNames])
def team_names(conn: Conn, _user: CurrentUser) -> list[dict[str, Any]]:
    """Every team record's display names, for any page that shows a team."""
    return team_service.names(conn)


@router.post("/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED)
def create_team(
    body: TeamIn,
    audit: Annotated[Audit, audited("team.create", "team")],
    conn: Conn,
    user: Steward,
    named: Named,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A record for a team: new, or one already in use by id (admins only). 409 for a team with a
    record; with an Idempotency-Key a retry returns the first answer instead."""
    audit.target_id = body.id
    audit.details["communities"] = body.communities
    record = team_service.TeamRecord(body.name_en, body.name_zh, tuple(body.communities))
    return retries.once(
        conn,
        user,
        idempotency_key,
        "POST /teams",
        body,
        audit,
        lambda: team_service.create(conn, user, body.id, record, named),
        TeamOut,
    )


@router.patch("/teams/{team}", response_model=TeamOut)
def change_team(
    team: Team,
    body: TeamChange,
    audit: Annotated[Audit, audited("team.update", "team", "team")],
    conn: Conn,
    user: Steward,
    named: Named,
) -> dict[str, Any]:
    """Change the names or communities; fields left out stay."""
    change = {k: v for k, v in body.model_dump().items() if v is not None}
    audit.details.update({"fields": sorted(change), "communities": change.get("communities")})
    return team_service.update(conn, user, team, change, named)


@router.delete("/teams/{team}", status_code=status.HTTP_204_NO_CONTENT)
def delete_team(
    team: Team,
    _audit: Annotated[Audit, audited("team.delete", "team", "team")],
    conn: Conn,
    user: Steward,
    named: Named,
) -> Response:
    """Only an unused team: no members, no cases, not named by the routing file or a rule (409 says which)."""
    team_service.delete(conn, user, team, named)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def add_member(
    team: Team,
    username: UsernamePath,
    audit: Annotated[Audit, audited("team.add_member", "team", "team")],
    conn: Conn,
    user: Steward,
) -> Response:
    audit.details["member"] = username
    team_service.add_member(conn, user, team, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    team: Team,
    username: UsernamePath,
    audit: Annotated[Audit, audited("team.remove_member", "team", "team")],
    conn: Conn,
    user: Steward,
) -> Response:
    audit.details["member"] = username
    team_service.remove_member(conn, user, team, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
