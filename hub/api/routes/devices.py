from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from hub.api.deps import AppSettings, Conn, CurrentUser, community_scope, require
from hub.devices import service
from hub.devices.service import RowResult
from hub.store import devices as device_store
from hub.store.users import User

router = APIRouter(tags=["devices"])


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
    _user: Annotated[User, Depends(require("admin"))],
) -> ImportOut:
    """Register devices in bulk. Each row is checked on its own; new devices get MQTT credentials,
    shown once in the response."""
    rows = service.register(conn, body.devices, rotate_credentials=body.rotate_credentials)
    service.export_auth(conn, settings)
    return ImportOut(
        created=sum(r.status == "created" for r in rows),
        updated=sum(r.status == "updated" for r in rows),
        errors=sum(r.status == "error" for r in rows),
        rows=rows,
    )


@router.get("/devices/{device_id}")
def get_device(device_id: str, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    device = device_store.get_device(conn, device_id)
    scope = community_scope(user)
    if device is None or (scope is not None and device["community_id"] not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id} in your communities")
    return device
