"""Team membership: who claims the cases routed to a team (POST /cases/next)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel

from hub.api.deps import Conn, require
from hub.cases.routing import TEAM_PATTERN
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import teams as team_service

router = APIRouter(tags=["teams"])

Admin = Annotated[User, Depends(require(Role.ADMIN))]
Team = Annotated[str, Path(pattern=TEAM_PATTERN)]


class TeamOut(BaseModel):
    team: str
    members: list[str]


@router.get("/teams", response_model=list[TeamOut])
def list_teams(
    conn: Conn, _user: Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.MANAGER))]
) -> list[dict[str, Any]]:
    return team_service.teams(conn)


@router.put("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def add_member(team: Team, username: str, conn: Conn, _user: Admin) -> Response:
    team_service.add_member(conn, team, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(team: Team, username: str, conn: Conn, _user: Admin) -> Response:
    team_service.remove_member(conn, team, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
