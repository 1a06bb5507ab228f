"""Devices as the API serves them: the registry (one device, bulk imports, CSV files) with the broker's
accounts kept in step, and a device's record, state, alerts and cases in the caller's scope."""

from typing import Any

import psycopg

from hub.devices import service as registry
from hub.devices.service import RowResult
from hub.domain.devices import DeviceKind, DeviceState
from hub.domain.errors import Conflict, Invalid, TooLarge
from hub.domain.users import User
from hub.services.scope import resident_id, visible
from hub.settings import Settings
from hub.store import devices as device_store

MAX_CSV_BYTES = 20_000_000


def import_rows(
    conn: psycopg.Connection[Any], settings: Settings, rows: list[dict[str, Any]], *, rotate_credentials: bool
) -> list[RowResult]:
    """Each row checked on its own; new devices get MQTT credentials, and the broker learns them."""
    results = registry.register(conn, rows, rotate_credentials=rotate_credentials)
    registry.export_auth(conn, settings)
    return results


def import_csv(
    conn: psycopg.Connection[Any], settings: Settings, body: bytes, *, rotate_credentials: bool
) -> list[RowResult]:
    """A CSV file with a header row, columns as in the JSON import."""
    if len(body) > MAX_CSV_BYTES:
        raise TooLarge("CSV larger than 20 MB; split the file")
    try:
        rows = registry.rows_from_csv(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"cannot read the CSV: {exc}") from None
    return import_rows(conn, settings, rows, rotate_credentials=rotate_credentials)


def register(conn: psycopg.Connection[Any], settings: Settings, device: dict[str, Any]) -> RowResult:
    """One new device. An existing id is a Conflict (updates go through the import), though by then its
    row has been updated as an import would."""
    result = import_rows(conn, settings, [device], rotate_credentials=False)[0]
    if result.status == "updated":
        raise Conflict(f"device {device['id']} exists; use the import to update it")
    return result


def get(conn: psycopg.Connection[Any], user: User, device_id: str) -> dict[str, Any]:
    return visible(user, device_store.get_device(conn, device_id), f"device {device_id}")


def listed(
    conn: psycopg.Connection[Any],
    user: User,
    *,
    community: str | None,
    building: str | None,
    grid: str | None,
    kind: DeviceKind | None,
    state: DeviceState | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's devices with their live state, and how many match in all."""
    return device_store.list_devices(
        conn,
        communities=user.community_scope(),
        community=community,
        building=building,
        grid=grid,
        kind=kind.value if kind is not None else None,
        state=state,
        limit=limit,
        offset=offset,
    )


def alerts(conn: psycopg.Connection[Any], user: User, device_id: str, limit: int) -> list[dict[str, Any]]:
    """Newest first, with the cases each one is linked to."""
    get(conn, user, device_id)
    return device_store.device_alerts(conn, device_id, limit)


def cases(conn: psycopg.Connection[Any], user: User, device_id: str, limit: int) -> list[dict[str, Any]]:
    """Newest first; residents see the alert-raised ones and their own reports."""
    get(conn, user, device_id)
    return device_store.device_cases(conn, device_id, limit, resident_id(user))
