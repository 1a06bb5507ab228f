from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from hub.api.audit import Audit, audited
from hub.api.deps import AppSettings, Conn, CurrentUser, require
from hub.devices.service import DeviceIn, PlaceIn, RowResult
from hub.domain.devices import DeviceKind, DeviceState
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import devices as device_service

router = APIRouter(tags=["devices"])
MAX_OFFSET = 10_000_000  # PostgreSQL's OFFSET is a bigint; far beyond any registry, far below its limit
Admin = Annotated[User, Depends(require(Role.ADMIN))]


class ImportIn(BaseModel):
    devices: list[dict[str, Any]] = Field(max_length=50_000)
    rotate_credentials: bool = Field(
        default=False, description="issue new MQTT passwords for existing devices"
    )
    dry_run: bool = Field(
        default=False, description="check every row and say what would change; write nothing"
    )


class ImportOut(BaseModel):
    dry_run: bool = Field(description="true: nothing was written; the counts say what would happen")
    created: int
    updated: int
    errors: int
    rows: list[RowResult]


@router.post("/devices/import", response_model=ImportOut)
def import_devices(
    body: ImportIn,
    audit: Annotated[Audit, audited("device.import", "device")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> ImportOut:
    """Register or update devices in bulk. Each row is checked on its own; new devices get MQTT
    credentials, shown once in the response. With `dry_run`, nothing is written."""
    results = device_service.import_rows(
        conn, settings, body.devices, rotate_credentials=body.rotate_credentials, dry_run=body.dry_run
    )
    return _summary(audit, results, body.dry_run)


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
    audit: Annotated[Audit, audited("device.import", "device")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
    rotate_credentials: bool = False,
    dry_run: bool = False,
) -> ImportOut:
    """The same import from a CSV file with a header row; columns as in the JSON import."""
    body = await request.body()
    results = device_service.import_csv(
        conn, settings, body, rotate_credentials=rotate_credentials, dry_run=dry_run
    )
    return _summary(audit, results, dry_run)


@router.post("/devices", response_model=RowResult, status_code=status.HTTP_201_CREATED)
def register_device(
    body: DeviceIn,
    audit: Annotated[Audit, audited("device.register", "device")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> RowResult:
    """Register one device; its MQTT password is in the answer, once."""
    audit.target_id, audit.community = body.id, body.community
    return device_service.register(conn, settings, body.model_dump(mode="json"))


def _summary(audit: Audit, results: list[RowResult], dry_run: bool) -> ImportOut:
    out = ImportOut(
        dry_run=dry_run,
        created=sum(r.status == "created" for r in results),
        updated=sum(r.status == "updated" for r in results),
        errors=sum(r.status == "error" for r in results),
        rows=results,
    )
    audit.details.update(out.model_dump(include={"dry_run", "created", "updated", "errors"}))
    return out


class DevicePlace(BaseModel):
    id: str
    kind: DeviceKind
    community_id: str
    building: str | None
    grid: str | None
    plan_x: float | None
    plan_y: float | None
    parent_id: str | None
    decommissioned_at: datetime | None = Field(description="set while the device is out of service")


class DeviceOut(DevicePlace):
    """A device's registry record and live state."""

    latitude: float | None
    longitude: float | None
    installed_on: date | None
    metadata: dict[str, Any]
    credentials_rotated_at: datetime | None = Field(description="the last new MQTT password after the first")
    created_at: datetime
    last_seen: datetime | None
    online: bool | None
    battery_pct: float | None
    rssi_dbm: int | None
    last_values: dict[str, Any] | None
    adapter: str | None = Field(
        default=None,
        description="the adapter its latest reading came through; null when it speaks the contract",
    )


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    return device_service.get(conn, user, device_id)


@router.patch(
    "/devices/{device_id}",
    response_model=DeviceOut,
    responses={404: {"description": "no such device"}, 409: {"description": "a cycle, or children left"}},
)
def place_device(
    device_id: str,
    body: PlaceIn,
    audit: Annotated[Audit, audited("device.place", "device", "device_id")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> dict[str, Any]:
    """Move a device: community, building, grid, plan position and parent; only the fields sent change.
    A parent is in the same community and not behind the device."""
    audit.details.update(body.model_dump(exclude_unset=True))
    return device_service.place(conn, settings, device_id, body)


class CredentialsOut(BaseModel):
    id: str
    mqtt_password: str = Field(description="shown once; only its hash is stored")
    rotated_at: datetime | None


@router.post("/devices/{device_id}/credentials", response_model=CredentialsOut)
def rotate_credentials(
    device_id: str,
    _audit: Annotated[Audit, audited("device.rotate_credentials", "device", "device_id")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> device_service.Credentials:
    """A new MQTT password for the device; the broker refuses the old one from now on (409 for a
    decommissioned device)."""
    return device_service.rotate_credentials(conn, settings, device_id)


@router.post("/devices/{device_id}/decommission", response_model=DeviceOut)
def decommission_device(
    device_id: str,
    _audit: Annotated[Audit, audited("device.decommission", "device", "device_id")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> dict[str, Any]:
    """Take the device out of service: its broker account goes, its messages are dead-lettered as
    `decommissioned`, its history stays (409 if it already is)."""
    return device_service.decommission(conn, settings, device_id)


@router.post("/devices/{device_id}/recommission", response_model=CredentialsOut)
def recommission_device(
    device_id: str,
    _audit: Annotated[Audit, audited("device.recommission", "device", "device_id")],
    conn: Conn,
    settings: AppSettings,
    _user: Admin,
) -> device_service.Credentials:
    """Back in service with a new MQTT password, shown once (409 if it is in service)."""
    return device_service.recommission(conn, settings, device_id)


class DeviceListed(DevicePlace):
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
    q: str | None = Query(default=None, max_length=100, description="part of the id, building or grid"),
    silent_min: int | None = Query(
        default=None, ge=0, le=525_600, description="not heard for more than this many minutes, or never"
    ),
    battery_below: float | None = Query(default=None, ge=0, le=100, description="battery below this %"),
    decommissioned: bool | None = Query(
        default=None, description="true: only decommissioned devices; false: only those in service"
    ),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, Any]]:
    """Devices of the caller's communities with their live state; `X-Total-Count` says how many match."""
    rows, total = device_service.listed(
        conn,
        user,
        device_service.DeviceFilters(
            community=community,
            building=building,
            grid=grid,
            kind=kind.value if kind is not None else None,
            state=state,
            search=q or None,
            silent_min=silent_min,
            battery_below=battery_below,
            decommissioned=decommissioned,
        ),
        limit=limit,
        offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return rows
