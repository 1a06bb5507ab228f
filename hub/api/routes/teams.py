"""Team membership: who claims the cases routed to a team (POST /cases/next)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from pydantic import BaseModel

from hub.api.deps import Conn, require
from hub.cases.routing import TEAM_PATTERN
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import cases as case_store

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
    return case_store.teams(conn)


@router.put("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def add_member(team: Team, username: str, conn: Conn, _user: Admin) -> Response:
    if not case_store.add_member(conn, team, username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/teams/{team}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(team: Team, username: str, conn: Conn, _user: Admin) -> Response:
    if not case_store.remove_member(conn, team, username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{username} is not a member of {team}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
