"""Where a device may hang: a parent of its own community that is not behind it.

The case rules (`hub.cases.topology`) walk a device's ancestors to find a down parent; a parent in
another community would put one community's outage into another's case, and a cycle would have no top.
The checks are pure, so they say what is wrong from what was read; `attach` reads and writes in one
transaction, so two changes cannot make a cycle between them unseen.
"""

from typing import Any

import psycopg

from hub.domain.errors import Conflict, Invalid, NotFound
from hub.store import topology as topology_store


def check_same_community(
    device_id: str, community: str, parent_id: str, parent_community: str | None
) -> None:
    if parent_community is None:
        raise Invalid(f"no device {parent_id} to hang it under")
    if parent_community != community:
        raise Invalid(
            f"{parent_id} is in {parent_community}, {device_id} in {community}: a parent is in the same community"
        )


def check_no_cycle(device_id: str, parent_id: str, parent_ancestors: list[str]) -> None:
    """`parent_ancestors`: the parent's parent, grandparent …, nearest first."""
    chain = [parent_id, *parent_ancestors]
    if device_id in chain:
        path = " → ".join([device_id, *chain[: chain.index(device_id) + 1]])
        raise Conflict(f"that would make a cycle: {path}")


def attach(conn: psycopg.Connection[Any], device_id: str, parent_id: str | None) -> None:
    """Hang the device under `parent_id`, or detach it with None."""
    with conn.transaction():
        community = topology_store.device_community(conn, device_id)
        if community is None:
            raise NotFound(f"no device {device_id}")
        if parent_id is not None:
            check_same_community(
                device_id, community, parent_id, topology_store.device_community(conn, parent_id)
            )
            above = [a["id"] for a in topology_store.ancestors(conn, parent_id)]
            check_no_cycle(device_id, parent_id, above)
        topology_store.set_parent(conn, device_id, parent_id)
