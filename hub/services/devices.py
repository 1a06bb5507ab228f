"""Devices as the API serves them: the registry (one device, bulk imports and their dry runs, moves,
credential rotation, decommissioning) with the broker's accounts kept in step, and a device's record,
state, alerts and cases in the caller's scope."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.devices import service as registry
from hub.devices.service import PlaceIn, RowResult
from hub.domain.errors import Conflict, Invalid, NotFound, TooLarge
from hub.domain.users import User
from hub.services.scope import resident_id, visible
from hub.settings import Settings
from hub.store import devices as device_store
from hub.store.devices import DeviceFilters as DeviceFilters

MAX_CSV_BYTES = 20_000_000


@dataclass(frozen=True)
class Credentials:
    id: str
    mqtt_password: str
    rotated_at: datetime


def import_rows(
    conn: psycopg.Connection[Any],
    settings: Settings,
    rows: list[dict[str, Any]],
    *,
    rotate_credentials: bool,
    dry_run: bool = False,
) -> list[RowResult]:
    """Each row checked on its own; new devices get MQTT credentials, and the broker learns them. A dry
    run says what would happen and changes nothing."""
    results = registry.register(conn, rows, rotate_credentials=rotate_credentials, dry_run=dry_run)
    if not dry_run:
        registry.export_auth(conn, settings)
    return results


def import_csv(
    conn: psycopg.Connection[Any], settings: Settings, body: bytes, *, rotate_credentials: bool, dry_run: bool
) -> list[RowResult]:
    """A CSV file with a header row, columns as in the JSON import."""
    if len(body) > MAX_CSV_BYTES:
        raise TooLarge("CSV larger than 20 MB; split the file")
    try:
        rows = registry.rows_from_csv(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"cannot read the CSV: {exc}") from None
    return import_rows(conn, settings, rows, rotate_credentials=rotate_credentials, dry_run=dry_run)


def register(conn: psycopg.Connection[Any], settings: Settings, device: dict[str, Any]) -> RowResult:
    """One new device; an existing id is a Conflict (updates go through the import)."""
    if device_store.get_device(conn, str(device.get("id"))) is not None:
        raise Conflict(f"device {device['id']} exists; use the import to update it")
    result = import_rows(conn, settings, [device], rotate_credentials=False)[0]
    if result.status == "error":
        raise Invalid(result.error or "device refused")
    return result


def place(
    conn: psycopg.Connection[Any], settings: Settings, device_id: str, change: PlaceIn
) -> dict[str, Any]:
    """The device after the move; a new community changes its topic, so the broker's ACL follows."""
    registry.place(conn, device_id, change)
    if "community" in change.model_fields_set:
        registry.export_auth(conn, settings)
    return _found(conn, device_id)


def rotate_credentials(conn: psycopg.Connection[Any], settings: Settings, device_id: str) -> Credentials:
    """A new password, shown once; the broker re-reads its files and refuses the old one from then on."""
    at = datetime.now(UTC)
    password = registry.rotate(conn, device_id, at)
    registry.export_auth(conn, settings)
    return Credentials(id=device_id, mqtt_password=password, rotated_at=at)


def decommission(conn: psycopg.Connection[Any], settings: Settings, device_id: str) -> dict[str, Any]:
    registry.decommission(conn, device_id, datetime.now(UTC))
    registry.export_auth(conn, settings)
    return _found(conn, device_id)


def recommission(conn: psycopg.Connection[Any], settings: Settings, device_id: str) -> Credentials:
    password = registry.recommission(conn, device_id)
    registry.export_auth(conn, settings)
    return Credentials(
        id=device_id, mqtt_password=password, rotated_at=_found(conn, device_id)["credentials_rotated_at"]
    )


def _found(conn: psycopg.Connection[Any], device_id: str) -> dict[str, Any]:
    found = device_store.get_device(conn, device_id)
    if found is None:
        raise NotFound(f"no device {device_id}")
    return found


def get(conn: psycopg.Connection[Any], user: User, device_id: str) -> dict[str, Any]:
    return visible(user, device_store.get_device(conn, device_id), f"device {device_id}")


def listed(
    conn: psycopg.Connection[Any],
    user: User,
    filters: device_store.DeviceFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's devices with their live state, and how many match in all."""
    return device_store.list_devices(
        conn, replace(filters, communities=user.community_scope()), limit=limit, offset=offset
    )


def alerts(conn: psycopg.Connection[Any], user: User, device_id: str, limit: int) -> list[dict[str, Any]]:
    """Newest first, with the cases each one is linked to."""
    get(conn, user, device_id)
    return device_store.device_alerts(conn, device_id, limit)


def cases(conn: psycopg.Connection[Any], user: User, device_id: str, limit: int) -> list[dict[str, Any]]:
    """Newest first; residents see the alert-raised ones and their own reports."""
    get(conn, user, device_id)
    return device_store.device_cases(conn, device_id, limit, resident_id(user), user.organisation)
