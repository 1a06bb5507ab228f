"""Registering, moving, rotating the credentials of and decommissioning devices, and keeping the
broker's password and ACL files in step with the registry."""

import contextlib
import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hub.adapters.loader import load_files
from hub.adapters.schema import Adapter
from hub.broker.auth import (
    BrokerAccount,
    current_hashes,
    device_topic_root,
    hash_password,
    new_password,
    verify_password,
    write_auth_files,
)
from hub.devices import topology
from hub.domain.contract import NEW_DEVICE_ID_DOT, DeviceId
from hub.domain.devices import DeviceKind
from hub.domain.errors import Conflict, Invalid, NotFound
from hub.settings import Settings
from hub.store import devices as device_store
from hub.store import topology as topology_store

LOADGEN_USER = "loadgen"
GATEWAY_USER = "gateways"
COMMUNITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class DeviceIn(BaseModel):
    """A device as an installer registers it."""

    model_config = ConfigDict(extra="forbid")

    id: DeviceId
    kind: DeviceKind
    community: str = Field(pattern=COMMUNITY_PATTERN)
    building: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=64)
    plan_x: float | None = None
    plan_y: float | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    installed_on: date | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class PlaceIn(BaseModel):
    """Where a device is: only the fields sent change; null clears one (a community cannot be cleared,
    `parent_id` null detaches the device)."""

    model_config = ConfigDict(extra="forbid")

    community: str | None = Field(default=None, pattern=COMMUNITY_PATTERN)
    building: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=64)
    plan_x: float | None = Field(default=None, allow_inf_nan=False)
    plan_y: float | None = Field(default=None, allow_inf_nan=False)
    parent_id: str | None = Field(default=None, max_length=100)


class FieldError(BaseModel):
    field: str = Field(description="the column or JSON field, empty for the row as a whole")
    message: str


class RowResult(BaseModel):
    row: int
    id: str | None
    status: str = Field(description="created, updated or error (in a dry run: what would happen)")
    error: str | None = Field(default=None, description="the errors below in one line")
    errors: list[FieldError] = Field(default_factory=list)
    changes: dict[str, list[Any]] = Field(
        default_factory=dict, description="for an update: field → [now, after the import]"
    )
    mqtt_password: str | None = Field(default=None, description="shown once; only its hash is stored")


def register(
    conn: psycopg.Connection[Any],
    rows: list[dict[str, Any]],
    *,
    rotate_credentials: bool = False,
    dry_run: bool = False,
) -> list[RowResult]:
    """Validate and upsert each row on its own; a bad row is reported and does not stop the others.
    A dry run does the same in a transaction it rolls back, and issues no password."""
    if dry_run:
        with conn.transaction(force_rollback=True):
            return _register(conn, rows, rotate_credentials=False, issue=False)
    return _register(conn, rows, rotate_credentials=rotate_credentials, issue=True)


def _register(
    conn: psycopg.Connection[Any], rows: list[dict[str, Any]], *, rotate_credentials: bool, issue: bool
) -> list[RowResult]:
    results = []
    for i, raw in enumerate(rows, start=1):
        try:
            d = DeviceIn.model_validate(raw)
        except ValidationError as exc:
            errors = [
                FieldError(field=".".join(map(str, e["loc"])), message=e["msg"])
                for e in exc.errors(include_url=False)
            ]
            results.append(
                RowResult(
                    row=i,
                    id=str(raw.get("id")) if isinstance(raw, dict) else None,
                    status="error",
                    error="; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors),
                    errors=errors,
                )
            )
            continue
        new = device_store.NewDevice(community_id=d.community, **d.model_dump(exclude={"community"}))
        with conn.transaction():
            old = device_store.get_device(conn, d.id)
            if old is None and "." in d.id:
                error = FieldError(field="id", message=NEW_DEVICE_ID_DOT)
                results.append(
                    RowResult(row=i, id=d.id, status="error", error=f"id: {error.message}", errors=[error])
                )
                continue
            device_store.ensure_community(conn, d.community)
            rotate = rotate_credentials and old is not None and old["decommissioned_at"] is None
            password = new_password() if issue and (old is None or rotate) else None
            created = device_store.upsert_device(conn, new, hash_password(password) if password else None)
        results.append(
            RowResult(
                row=i,
                id=d.id,
                status="created" if created else "updated",
                changes={} if old is None else _changes(old, new),
                mqtt_password=password,
            )
        )
    return results


def _changes(old: dict[str, Any], new: device_store.NewDevice) -> dict[str, list[Any]]:
    after = {**new.__dict__, "kind": new.kind.value, "metadata": new.metadata or {}}
    return {k: [old[k], v] for k, v in after.items() if k != "id" and old[k] != v}


def rotate(conn: psycopg.Connection[Any], device_id: str, at: datetime) -> str:
    """A new MQTT password for a device in service; the old one stops working once the broker's files
    are written again."""
    password = new_password()
    if not device_store.set_credentials(conn, device_id, hash_password(password), at):
        _refuse_unless_in_service(conn, device_id)
    return password


def decommission(conn: psycopg.Connection[Any], device_id: str, at: datetime) -> None:
    """Out of service: its password goes (so its broker account does) and ingest refuses its messages;
    its history stays."""
    if not device_store.set_decommissioned(conn, device_id, at, None):
        _refuse_unless_in_service(conn, device_id)


def recommission(conn: psycopg.Connection[Any], device_id: str) -> str:
    """Back in service with a new password (the old one may have left with the device)."""
    password = new_password()
    if not device_store.set_decommissioned(conn, device_id, None, hash_password(password)):
        if device_store.get_device(conn, device_id) is None:
            raise NotFound(f"no device {device_id}")
        raise Conflict(f"device {device_id} is in service")
    return password


def _refuse_unless_in_service(conn: psycopg.Connection[Any], device_id: str) -> None:
    found = device_store.get_device(conn, device_id)
    if found is None:
        raise NotFound(f"no device {device_id}")
    if found["decommissioned_at"] is not None:
        raise Conflict(f"device {device_id} is decommissioned; re-commission it first")


def place(conn: psycopg.Connection[Any], device_id: str, change: PlaceIn) -> None:
    """Move a device (community, building, grid, plan position) and hang it under a parent, in one
    transaction. A device that changes community must leave its parent and may take no children along:
    a parent is of the same community (`hub.devices.topology`)."""
    sent = change.model_fields_set
    with conn.transaction():
        old = device_store.get_device(conn, device_id)
        if old is None:
            raise NotFound(f"no device {device_id}")
        columns: dict[str, Any] = {
            k: getattr(change, k) for k in ("building", "grid", "plan_x", "plan_y") if k in sent
        }
        moved = "community" in sent and change.community != old["community_id"]
        if moved:
            if change.community is None:
                raise Invalid("community: a device is always in a community")
            if children := topology_store.children(conn, device_id):
                raise Conflict(
                    f"{', '.join(children)} hang under {device_id} in {old['community_id']}: "
                    "move or detach them first"
                )
            if old["parent_id"] is not None and "parent_id" not in sent:
                raise Invalid(
                    f"parent_id: {device_id} hangs under {old['parent_id']} in {old['community_id']}; "
                    f"give a parent in {change.community} or null"
                )
            device_store.ensure_community(conn, change.community)
            columns["community_id"] = change.community
        if columns:
            device_store.set_place(conn, device_id, columns)
        if "parent_id" in sent:
            topology.attach(conn, device_id, change.parent_id)


CSV_COLUMNS = tuple(DeviceIn.model_fields)


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as import rows: empty cells are absent, `metadata` holds a JSON object (a cell that is
    not JSON stays text, so validation reports it on its row). Lines may end in CR LF, LF or a lone CR
    (spreadsheets still write the last); a file the csv module cannot read is a ValueError naming the
    line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if unknown:
            raise ValueError(
                f"unknown CSV column(s) {', '.join(sorted(unknown))}; allowed: {', '.join(CSV_COLUMNS)}"
            )
        rows: list[dict[str, Any]] = []
        for raw in reader:
            row: dict[str, Any] = {k: v for k, v in raw.items() if k and v not in (None, "")}
            if "metadata" in row:
                with contextlib.suppress(json.JSONDecodeError):
                    row["metadata"] = json.loads(row["metadata"])
            rows.append(row)
    except csv.Error as exc:
        raise ValueError(f"line {reader.reader.line_num}: {exc}") from None
    return rows


@dataclass(frozen=True)
class SystemAccount:
    """A broker account whose password is a setting, not a registry row: the hub's, the load
    generator's, the vendor gateways'."""

    username: str
    password: SecretStr
    write_topics: tuple[str, ...] = ()
    read_topics: tuple[str, ...] = ()


def system_accounts(settings: Settings, mqtt_adapters: list[Adapter]) -> list[SystemAccount]:
    """The hub's own account (read everything under the prefix and the MQTT adapters' topic filters), the
    vendor gateways' shared account and the load generator's, each if its password is configured."""
    prefix = settings.topic_prefix
    vendor = tuple(a.source.mqtt for a in mqtt_adapters if a.source.mqtt)
    accounts = [
        SystemAccount(
            settings.mqtt_username,
            settings.mqtt_password,
            read_topics=(f"{prefix}/#", *vendor),
            write_topics=("hub/#",),
        )
    ]
    if settings.mqtt_gateway_password is not None and vendor:
        accounts.append(SystemAccount(GATEWAY_USER, settings.mqtt_gateway_password, write_topics=vendor))
    if settings.mqtt_loadgen_password is not None:
        accounts.append(
            SystemAccount(LOADGEN_USER, settings.mqtt_loadgen_password, write_topics=(f"{prefix}/#",))
        )
    return accounts


def device_account(
    settings: Settings,
    mqtt_adapters: list[Adapter],
    device_id: str,
    credential: tuple[str, str, str, dict[str, str]],
) -> BrokerAccount:
    """A device's write-only account: its own topic root, and its vendor topics."""
    community, kind, pw_hash, ids = credential
    own = vendor_topics(mqtt_adapters, kind, {"device_id": device_id, **ids})
    root = device_topic_root(settings.topic_prefix, community, kind, device_id)
    return BrokerAccount(device_id, pw_hash, write_topics=(f"{root}/#", *own))


def broker_accounts(
    conn: psycopg.Connection[Any], settings: Settings, current: dict[str, str] | None = None
) -> list[BrokerAccount]:
    """Every account for Mosquitto's files: the system accounts, then one per device in service.
    `current`: hashes the broker has now; one that still matches its password is kept, so an unchanged
    registry gives unchanged files."""
    current = current or {}
    mqtt_adapters = mqtt_adapters_of(settings)

    def hashed(username: str, password: str) -> str:
        old = current.get(username)
        return old if old is not None and verify_password(password, old) else hash_password(password)

    accounts = [
        BrokerAccount(
            a.username,
            hashed(a.username, a.password.get_secret_value()),
            write_topics=a.write_topics,
            read_topics=a.read_topics,
        )
        for a in system_accounts(settings, mqtt_adapters)
    ]
    for device_id, community, kind, pw_hash, ids in device_store.broker_credentials(conn):
        accounts.append(device_account(settings, mqtt_adapters, device_id, (community, kind, pw_hash, ids)))
    return accounts


def mqtt_adapters_of(settings: Settings) -> list[Adapter]:
    """The MQTT adapters of the adapter files that load: the hub reads their topic filters, vendor
    gateways write them, and a device found by a topic level may write its own topic."""
    if not settings.adapters_dir.exists():
        return []
    by_file, _errors = load_files(settings.adapters_dir, settings.topic_prefix)
    return [a for adapters in by_file.values() for a in adapters if a.source.mqtt]


def vendor_topics(adapters: list[Adapter], kind: str, ids: dict[str, str]) -> tuple[str, ...]:
    """A device's own vendor topics: each adapter of its kind that finds the device by a `+` level of its
    topic filter, with that level filled in by the device's id, IMEI or vendor id (as the adapter looks it
    up), so a gate may publish as itself and no other."""
    out = []
    for a in adapters:
        segment, value = a.device.topic_segment, ids.get(a.device.by)
        levels = (a.source.mqtt or "").split("/")
        if a.kind != kind or segment is None or value is None or segment >= len(levels):
            continue
        if levels[segment] == "+" and value and not set(value) & set("+#/"):
            levels[segment] = value
            out.append("/".join(levels))
    return tuple(out)


def export_auth(conn: psycopg.Connection[Any], settings: Settings) -> bool:
    """Write the broker's auth files where settings say; returns whether they changed (and the broker
    was asked to reload them)."""
    if settings.mqtt_auth_dir is None:
        return False
    accounts = broker_accounts(conn, settings, current_hashes(settings.mqtt_auth_dir))
    return write_auth_files(settings.mqtt_auth_dir, accounts, settings.mqtt_reload_pidfile)
