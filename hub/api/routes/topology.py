"""Device topology: which device hangs under which (a gateway, a lamp feeder cabinet), so that a parent's
outage makes one case instead of one per device behind it (see hub/cases/topology.py)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from hub.api.deps import Conn, CurrentUser, require
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services.scope import visible
from hub.store import topology as topology_store

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
    with conn.transaction():
        community = topology_store.device_community(conn, device_id)
        if community is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
        parent = body.parent_id
        if parent is not None:
            parent_community = topology_store.device_community(conn, parent)
            if parent_community is None:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, f"no device {parent} to hang it under"
                )
            if parent_community != community:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"{parent} is in {parent_community}, {device_id} in {community}: a parent is in the same community",
                )
            chain = [parent] + [a["id"] for a in topology_store.ancestors(conn, parent)]
            if device_id in chain:
                path = " → ".join([device_id, *chain[: chain.index(device_id) + 1]])
                raise HTTPException(status.HTTP_409_CONFLICT, f"that would make a cycle: {path}")
        topology_store.set_parent(conn, device_id, parent)
    return _topology(conn, device_id)


@router.get("/devices/{device_id}/topology", response_model=TopologyOut)
def get_topology(device_id: str, conn: Conn, user: CurrentUser) -> TopologyOut:
    community = topology_store.device_community(conn, device_id)
    visible(user, None if community is None else {"community_id": community}, f"device {device_id}")
    return _topology(conn, device_id)


def _topology(conn: Conn, device_id: str) -> TopologyOut:
    _, parent = topology_store.parent_of(conn, device_id)
    ancestors = [
        {"id": a["id"], "kind": a["kind"], "depth": a["depth"], "online": a["online"]}
        for a in topology_store.ancestors(conn, device_id)
    ]
    return TopologyOut(
        id=device_id, parent_id=parent, ancestors=ancestors, children=topology_store.children(conn, device_id)
    )
