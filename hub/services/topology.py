"""Device topology as the API serves it: a device's parent, ancestors and children."""

from typing import Any

import psycopg

from hub.devices import topology
from hub.domain.users import User
from hub.services.scope import visible
from hub.store import topology as topology_store


def set_parent(conn: psycopg.Connection[Any], device_id: str, parent_id: str | None) -> dict[str, Any]:
    """The device's topology after the change."""
    topology.attach(conn, device_id, parent_id)
    return _topology(conn, device_id)


def get(conn: psycopg.Connection[Any], user: User, device_id: str) -> dict[str, Any]:
    community = topology_store.device_community(conn, device_id)
    visible(user, None if community is None else {"community_id": community}, f"device {device_id}")
    return _topology(conn, device_id)


def _topology(conn: psycopg.Connection[Any], device_id: str) -> dict[str, Any]:
    _, parent = topology_store.parent_of(conn, device_id)
    ancestors = [
        {"id": a["id"], "kind": a["kind"], "depth": a["depth"], "online": a["online"]}
        for a in topology_store.ancestors(conn, device_id)
    ]
    return {
        "id": device_id,
        "parent_id": parent,
        "ancestors": ancestors,
        "children": topology_store.children(conn, device_id),
    }
