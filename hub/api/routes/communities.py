"""Communities and their sites: names, time zone, working calendar, coordinates, named grids and
buildings. Admins create communities; admins and a community's managers change it; changes are audited."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, Field, StringConstraints

from hub.api import retries
from hub.api.audit import Audit, audited
from hub.api.deps import Conn, Dispatch, Steward, require
from hub.api.params import IdempotencyKey, Name
from hub.domain.communities import Community
from hub.domain.roles import HANDLERS, Role
from hub.domain.users import User
from hub.services import communities as community_service

router = APIRouter(tags=["communities"])

Staff = Annotated[User, Depends(require(*HANDLERS))]
COMMUNITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
PLACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CommunityPath = Annotated[str, Path(min_length=1, max_length=64)]
PlacePath = Annotated[str, Path(pattern=PLACE_PATTERN)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CalendarName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CommunityListed(BaseModel):
    id: str
    name: str
    name_zh: str | None
    timezone: str | None
    calendar: str | None
    latitude: float | None
    longitude: float | None
    devices: int
    grids: int = Field(description="grids with a name")
    buildings: int = Field(description="buildings with a name")


class Place(BaseModel):
    id: str
    name_en: str | None = Field(description="null for one only devices name")
    name_zh: str | None
    named: bool
    devices: int


class Building(Place):
    grid: str | None


class CommunityOut(BaseModel):
    id: str
    name: str
    name_zh: str | None
    timezone: str | None = Field(description="IANA time zone of the site")
    calendar: str | None = Field(description="the routing file's named calendar it follows; null: `calendar`")
    latitude: float | None
    longitude: float | None
    grids: list[Place]
    buildings: list[Building]
    calendars: list[str] = Field(description="the named calendars of the routing file")
    calendar_known: bool = Field(description="false when the calendar it names is gone from the routing file")


class CommunityIn(BaseModel):
    id: str = Field(pattern=COMMUNITY_PATTERN, examples=["sunrise"])
    name: Name
    name_zh: Name | None = None
    timezone: TimeZone | None = Field(default=None, examples=["Asia/Shanghai"])
    calendar: CalendarName | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class CommunityChange(BaseModel):
    """Fields left out stay; null clears an optional one."""

    name: Name | None = None
    name_zh: Name | None = None
    timezone: TimeZone | None = None
    calendar: CalendarName | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class PlaceIn(BaseModel):
    name_en: Name
    name_zh: Name


class BuildingIn(PlaceIn):
    grid: Annotated[str, StringConstraints(pattern=PLACE_PATTERN)] | None = Field(
        default=None, description="a grid of the community with a name"
    )


@router.get("/communities", response_model=list[CommunityListed])
def list_communities(conn: Conn, user: Staff) -> list[dict[str, Any]]:
    """The communities in the caller's scope, with their numbers of devices and named grids and buildings."""
    return community_service.listing(conn, user)


@router.get("/communities/{community}", response_model=CommunityOut)
def get_community(community: CommunityPath, conn: Conn, user: Staff, dispatch: Dispatch) -> dict[str, Any]:
    return community_service.get(conn, user, community, dispatch)


@router.post("/communities", response_model=CommunityOut, status_code=status.HTTP_201_CREATED)
def create_community(
    body: CommunityIn,
    audit: Annotated[Audit, audited("community.create", "community")],
    conn: Conn,
    user: Annotated[User, Depends(require(Role.ADMIN))],
    dispatch: Dispatch,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """409 for a taken id; with an Idempotency-Key a retry returns the first answer instead."""
    audit.target_id = audit.community = body.id
    return retries.once(
        conn,
        user,
        idempotency_key,
        "POST /communities",
        body,
        audit,
        lambda: community_service.create(conn, user, Community(**body.model_dump()), dispatch),
        CommunityOut,
    )


@router.patch("/communities/{community}", response_model=CommunityOut)
def change_community(
    community: CommunityPath,
    body: CommunityChange,
    audit: Annotated[Audit, audited("community.update", "community", "community")],
    conn: Conn,
    user: Steward,
    dispatch: Dispatch,
) -> dict[str, Any]:
    change = body.model_dump(include=body.model_fields_set)
    audit.details["fields"] = sorted(change)
    return community_service.update(conn, user, community, change, dispatch)


@router.put("/communities/{community}/grids/{grid}", response_model=CommunityOut)
def put_grid(
    community: CommunityPath,
    grid: PlacePath,
    body: PlaceIn,
    audit: Annotated[Audit, audited("community.put_grid", "community", "community")],
    conn: Conn,
    user: Steward,
    dispatch: Dispatch,
) -> dict[str, Any]:
    """Name a grid, or rename it; the community after it."""
    audit.details["grid"] = grid
    return community_service.put_place(
        conn, user, community, "grid", grid, (body.name_en, body.name_zh), None, dispatch
    )


@router.delete("/communities/{community}/grids/{grid}", status_code=status.HTTP_204_NO_CONTENT)
def delete_grid(
    community: CommunityPath,
    grid: PlacePath,
    audit: Annotated[Audit, audited("community.delete_grid", "community", "community")],
    conn: Conn,
    user: Steward,
    dispatch: Dispatch,
) -> Response:
    """Only a grid without devices or buildings (409 otherwise: rename it instead)."""
    audit.details["grid"] = grid
    community_service.delete_place(conn, user, community, "grid", grid, dispatch)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/communities/{community}/buildings/{building}", response_model=CommunityOut)
def put_building(
    community: CommunityPath,
    building: PlacePath,
    body: BuildingIn,
    audit: Annotated[Audit, audited("community.put_building", "community", "community")],
    conn: Conn,
    user: Steward,
    dispatch: Dispatch,
) -> dict[str, Any]:
    """Name a building, or change it; its grid must have a name."""
    audit.details.update({"building": building, "grid": body.grid})
    return community_service.put_place(
        conn, user, community, "building", building, (body.name_en, body.name_zh), body.grid, dispatch
    )


@router.delete("/communities/{community}/buildings/{building}", status_code=status.HTTP_204_NO_CONTENT)
def delete_building(
    community: CommunityPath,
    building: PlacePath,
    audit: Annotated[Audit, audited("community.delete_building", "community", "community")],
    conn: Conn,
    user: Steward,
    dispatch: Dispatch,
) -> Response:
    """Only a building without devices (409 otherwise: rename it instead)."""
    audit.details["building"] = building
    community_service.delete_place(conn, user, community, "building", building, dispatch)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
