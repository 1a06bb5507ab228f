"""Organisations (admins): records, the teams they own and the integration accounts bound to them.
Every change is audited; handlers read the list (names for the pages that show a case's organisation)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, Field

from hub.api import retries
from hub.api.audit import Audit, audited
from hub.api.deps import Conn, require
from hub.api.params import CommunityId, IdempotencyKey, Name, UsernamePath
from hub.cases.routing import TEAM_PATTERN
from hub.domain.organisations import ORGANISATION_PATTERN, OrganisationKind
from hub.domain.roles import HANDLERS, Role
from hub.domain.users import User
from hub.services import organisations as org_service

router = APIRouter(tags=["organisations"])

OrganisationId = Annotated[str, Path(pattern=ORGANISATION_PATTERN)]
Team = Annotated[str, Path(pattern=TEAM_PATTERN)]
Admin = Annotated[User, Depends(require(Role.ADMIN))]


class OrganisationOut(BaseModel):
    id: str
    kind: OrganisationKind
    name_en: str
    name_zh: str
    communities: list[str] = Field(description="the communities it serves")
    created_at: datetime
    teams: list[str] = Field(description="the teams it owns: cases sent to them are its cases")
    accounts: list[str] = Field(description="integration accounts that act for it")
    members: list[str] = Field(description="its people, who handle its cases in the dashboard")


class OrganisationIn(BaseModel):
    id: str = Field(pattern=ORGANISATION_PATTERN, examples=["drainage-co"])
    kind: OrganisationKind
    name_en: Name
    name_zh: Name
    communities: list[CommunityId] = Field(min_length=1, max_length=100)


class OrganisationChange(BaseModel):
    kind: OrganisationKind | None = None
    name_en: Name | None = None
    name_zh: Name | None = None
    communities: list[CommunityId] | None = Field(default=None, min_length=1, max_length=100)


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(
    conn: Conn, _user: Annotated[User, Depends(require(*HANDLERS))]
) -> list[dict[str, Any]]:
    return org_service.organisations(conn)


@router.get("/organisations/{organisation}", response_model=OrganisationOut)
def get_organisation(
    organisation: OrganisationId, conn: Conn, _user: Annotated[User, Depends(require(*HANDLERS))]
) -> dict[str, Any]:
    return org_service.get(conn, organisation)


@router.post("/organisations", response_model=OrganisationOut, status_code=status.HTTP_201_CREATED)
def create_organisation(
    body: OrganisationIn,
    audit: Annotated[Audit, audited("organisation.create", "organisation")],
    conn: Conn,
    user: Admin,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """409 for a taken id; with an Idempotency-Key a retry returns the first answer instead."""
    audit.target_id = body.id
    audit.details.update(kind=body.kind, communities=body.communities)
    record = org_service.OrganisationRecord(body.kind, body.name_en, body.name_zh, tuple(body.communities))
    return retries.once(
        conn,
        user,
        idempotency_key,
        "POST /organisations",
        body,
        audit,
        lambda: org_service.create(conn, user, body.id, record),
        OrganisationOut,
    )


@router.patch("/organisations/{organisation}", response_model=OrganisationOut)
def change_organisation(
    organisation: OrganisationId,
    body: OrganisationChange,
    audit: Annotated[Audit, audited("organisation.update", "organisation", "organisation")],
    conn: Conn,
    user: Admin,
) -> dict[str, Any]:
    """Fields left out stay; the communities may not leave out one that a team of it serves."""
    change = {k: v for k, v in body.model_dump().items() if v is not None}
    audit.details.update({"fields": sorted(change), "communities": change.get("communities")})
    return org_service.update(conn, user, organisation, change)


@router.delete("/organisations/{organisation}", status_code=status.HTTP_204_NO_CONTENT)
def delete_organisation(
    organisation: OrganisationId,
    _audit: Annotated[Audit, audited("organisation.delete", "organisation", "organisation")],
    conn: Conn,
    _user: Admin,
) -> Response:
    """Only without teams and accounts (409 names them)."""
    org_service.delete(conn, organisation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/organisations/{organisation}/teams/{team}", response_model=OrganisationOut)
def bind_team(
    organisation: OrganisationId,
    team: Team,
    audit: Annotated[Audit, audited("organisation.bind_team", "organisation", "organisation")],
    conn: Conn,
    _user: Admin,
) -> dict[str, Any]:
    """The organisation owns the team (a team record whose communities it serves)."""
    audit.details["team"] = team
    return org_service.bind_team(conn, organisation, team)


@router.delete("/organisations/{organisation}/teams/{team}", response_model=OrganisationOut)
def unbind_team(
    organisation: OrganisationId,
    team: Team,
    audit: Annotated[Audit, audited("organisation.unbind_team", "organisation", "organisation")],
    conn: Conn,
    _user: Admin,
) -> dict[str, Any]:
    audit.details["team"] = team
    return org_service.unbind_team(conn, organisation, team)


@router.put("/organisations/{organisation}/accounts/{username}", response_model=OrganisationOut)
def bind_account(
    organisation: OrganisationId,
    username: UsernamePath,
    audit: Annotated[Audit, audited("organisation.bind_account", "organisation", "organisation")],
    conn: Conn,
    _user: Admin,
) -> dict[str, Any]:
    """An integration account acts for the organisation, on its cases only, from its next request."""
    audit.details["account"] = username
    return org_service.bind_account(conn, organisation, username)


@router.delete("/organisations/{organisation}/accounts/{username}", response_model=OrganisationOut)
def unbind_account(
    organisation: OrganisationId,
    username: UsernamePath,
    audit: Annotated[Audit, audited("organisation.unbind_account", "organisation", "organisation")],
    conn: Conn,
    _user: Admin,
) -> dict[str, Any]:
    audit.details["account"] = username
    return org_service.unbind_account(conn, organisation, username)
