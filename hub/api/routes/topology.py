"""Device topology: which device hangs under which (a gateway, a lamp feeder cabinet), so that a parent's
outage makes one case instead of one per device behind it (see hub/cases/topology.py); where a device
may hang is hub/devices/topology.py's to say."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hub.api.deps import Conn, CurrentUser, require
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import topology as topology_service

router = APIRouter(tags=["devices"])


class ParentIn(BaseModel):
    parent_id: str | None = Field(max_length=100, description="the parent device; null detaches the device")


class TopologyOut(BaseModel):
    id: str
    parent_id: str | None
    ancestors: list[dict[str, Any]] = Field(description="parent first, with `online`")
    children: list[str]


@router.put("/devices/{device_id}/parent", response_model=TopologyOut)
def set_parent(
    device_id: str, body: ParentIn, conn: Conn, _user: Annotated[User, Depends(require(Role.ADMIN))]
) -> TopologyOut:
    """Hang a device under a parent of the same community (404 unknown device, 422 unknown parent or
    another community, 409 a cycle)."""
    return TopologyOut.model_validate(topology_service.set_parent(conn, device_id, body.parent_id))


@router.get("/devices/{device_id}/topology", response_model=TopologyOut)
def get_topology(device_id: str, conn: Conn, user: CurrentUser) -> TopologyOut:
    return TopologyOut.model_validate(topology_service.get(conn, user, device_id))
