from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from hub.api.deps import AppSettings, Conn, CurrentUser, require
from hub.devices.service import DeviceIn, RowResult
from hub.domain.devices import DeviceKind, DeviceState
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import devices as device_service

router = APIRouter(tags=["devices"])
MAX_OFFSET = 10_000_000  # PostgreSQL's OFFSET is a bigint; far beyond any registry, far below its limit


class ImportIn(BaseModel):
    devices: list[dict[str, Any]] = Field(max_length=50_000)
    rotate_credentials: bool = Field(
        default=False, description="issue new MQTT passwords for existing devices"
    )


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: int
    rows: list[RowResult]


@router.post("/devices/import", response_model=ImportOut)
def import_devices(
    body: ImportIn,
    conn: Conn,
    settings: AppSettings,
    _user: Annotated[User, Depends(require(Role.ADMIN))],
) -> ImportOut:
    """Register devices in bulk. Each row is checked on its own; new devices get MQTT credentials,
    shown once in the response."""
    return _summary(
        device_service.import_rows(conn, settings, body.devices, rotate_credentials=body.rotate_credentials)
    )


@router.post(
    "/devices/import/csv",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "example": "id,kind,community,building,grid,plan_x,plan_y\n"
                    "sunrise-b1-sd01,smoke_detector,sunrise,b1,g1,120,80\n"
                }
            },
        }
    },
)
async def import_devices_csv(
    request: Request,
    conn: Conn,
    settings: AppSettings,
    _user: Annotated[User, Depends(require(Role.ADMIN))],
    rotate_credentials: bool = False,
) -> ImportOut:
    """The same import from a CSV file with a header row; columns as in the JSON import."""
    body = await request.body()
    return _summary(device_service.import_csv(conn, settings, body, rotate_credentials=rotate_credentials))


@router.post("/devices", response_model=RowResult, status_code=status.HTTP_201_CREATED)
def register_device(
    body: DeviceIn,
    conn: Conn,
    settings: AppSettings,
    _user: Annotated[User, Depends(require(Role.ADMIN))],
) -> RowResult:
    """Register one device; its MQTT password is in the answer, once."""
    return device_service.register(conn, settings, body.model_dump(mode="json"))


def _summary(results: list[RowResult]) -> ImportOut:
    return ImportOut(
        created=sum(r.status == "created" for r in results),
        updated=sum(r.status == "updated" for r in results),
        errors=sum(r.status == "error" for r in results),
        rows=results,
    )


@router.get("/devices/{device_id}")
def get_device(device_id: str, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    return device_service.get(conn, user, device_id)


class DeviceListed(BaseModel):
    id: str
    kind: DeviceKind
    community_id: str
    building: str | None
    grid: str | None
    plan_x: float | None
    plan_y: float | None
    online: bool
    last_seen: datetime | None
    battery_pct: float | None
    open_alerts: int = Field(description="open alerts raised by this device")
    state: DeviceState = Field(
        description="alerting (an open alert), else offline (or never heard), else low_battery "
        "(below 20 %), else ok"
    )


@router.get("/devices", response_model=list[DeviceListed])
def list_devices(
    conn: Conn,
    user: CurrentUser,
    response: Response,
    community: str | None = Query(default=None, max_length=64),
    building: str | None = Query(default=None, max_length=64),
    grid: str | None = Query(default=None, max_length=64),
    kind: DeviceKind | None = None,
    state: DeviceState | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, Any]]:
    """Devices of the caller's communities with their live state; `X-Total-Count` says how many match."""
    rows, total = device_service.listed(
        conn,
        user,
        community=community,
        building=building,
        grid=grid,
        kind=kind,
        state=state,
        limit=limit,
        offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return rows
