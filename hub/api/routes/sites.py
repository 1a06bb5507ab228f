"""The dashboard's site views: communities in the caller's scope, a community's plan with each device's
state, and a device's alerts and cases. Scope as everywhere: outside one's communities looks absent."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.api.deps import Conn, CurrentUser, ReadConn
from hub.domain.devices import DeviceKind, DeviceState
from hub.services import devices as device_service
from hub.services import sites as site_service

router = APIRouter(tags=["sites"])


class SiteSummary(BaseModel):
    id: str
    name: str
    devices: int
    states: dict[DeviceState, int] = Field(description="devices per state; states with none are left out")
    kinds: dict[DeviceKind, int] = Field(description="devices per kind")
    open_cases: int = Field(
        description="cases not yet resolved, closed or cancelled, that the caller may see"
    )


class Box(BaseModel):
    grid: str | None
    building: str | None = None
    x0: float
    y0: float
    x1: float
    y1: float
    devices: int


class PlanDevice(BaseModel):
    id: str
    kind: DeviceKind
    building: str | None
    grid: str | None
    plan_x: float | None
    plan_y: float | None
    latitude: float | None
    longitude: float | None
    state: DeviceState = Field(description="alerting while an alert or a case about the device is open")
    battery_pct: float | None
    open_alerts: int
    open_cases: int = Field(description="cases about the device not yet resolved, closed or cancelled")
    open_case_id: int | None = Field(
        description="the open case to go to: the most severe, then the oldest (residents: alert-raised ones)"
    )
    last_seen: datetime | None


class PlanImage(BaseModel):
    content_type: str
    updated_at: datetime = Field(description="changes with each upload: fetch the image again then")


class SitePlan(BaseModel):
    id: str
    name: str
    image: PlanImage | None = Field(
        description="the plan image (GET /communities/{id}/plan-image), drawn under the devices"
    )
    grids: list[Box] = Field(description="per grid, the box around its placed devices (plan units 0–1000)")
    buildings: list[Box] = Field(description="per building, the box around its placed devices")
    devices: list[PlanDevice]
    unplaced: int = Field(description="devices without plan_x/plan_y, listed but not drawn")


class DeviceAlert(BaseModel):
    id: int
    rule_id: str
    title: str
    severity: str
    category: str
    status: str
    started_at: datetime
    opened_at: datetime
    cleared_at: datetime | None
    clear_reason: str | None
    silence_id: int | None
    data_state: Literal["live", "no_data"] = Field(
        description="no_data while the device is silent: the alert is frozen, neither cleared nor confirmed"
    )
    data_state_since: datetime | None = Field(description="when the alert last changed data state")
    case_ids: list[int]


class DeviceCase(BaseModel):
    id: int
    title: str
    category: str
    severity: str
    status: str
    source: str
    team: str | None
    created_at: datetime
    updated_at: datetime


@router.get("/sites", response_model=list[SiteSummary])
def list_sites(conn: Conn, user: CurrentUser) -> list[dict[str, Any]]:
    """The communities the caller may see, with device states and open cases at a glance."""
    return site_service.summaries(conn, user)


@router.get("/sites/{community}", response_model=SitePlan)
def get_site(community: str, conn: Conn, reads: ReadConn, user: CurrentUser) -> dict[str, Any]:
    """A community's plan: devices with position and state, and boxes for its grids and buildings."""
    return site_service.plan(conn, reads, user, community)


@router.get("/devices/{device_id}/alerts", response_model=list[DeviceAlert], tags=["devices"])
def get_device_alerts(
    device_id: str, conn: Conn, user: CurrentUser, limit: int = Query(default=50, ge=1, le=500)
) -> list[dict[str, Any]]:
    """A device's alerts, newest first, with the cases each one is linked to."""
    return device_service.alerts(conn, user, device_id, limit)


@router.get("/devices/{device_id}/cases", response_model=list[DeviceCase], tags=["devices"])
def get_device_cases(
    device_id: str, conn: Conn, user: CurrentUser, limit: int = Query(default=50, ge=1, le=500)
) -> list[dict[str, Any]]:
    """The cases about a device, newest first (residents: alert-raised ones and their own reports)."""
    return device_service.cases(conn, user, device_id, limit)
