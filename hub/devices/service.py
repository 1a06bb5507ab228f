"""Registering devices and keeping the broker's password and ACL files in step with the registry."""

import contextlib
import csv
import io
import json
from datetime import date
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.broker.auth import (
    BrokerAccount,
    current_hashes,
    device_topic_root,
    hash_password,
    new_password,
    verify_password,
    write_auth_files,
)
from hub.domain.contract import DeviceId
from hub.domain.devices import DeviceKind
from hub.settings import Settings
from hub.store import devices as device_store

LOADGEN_USER = "loadgen"


class DeviceIn(BaseModel):
    """A device as an installer registers it."""

    model_config = ConfigDict(extra="forbid")

    id: DeviceId
    kind: DeviceKind
    community: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    building: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=64)
    plan_x: float | None = None
    plan_y: float | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    installed_on: date | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RowResult(BaseModel):
    row: int
    id: str | None
    status: str = Field(description="created, updated or error")
    error: str | None = None
    mqtt_password: str | None = Field(default=None, description="shown once; only its hash is stored")


def register(
    conn: psycopg.Connection[Any], rows: list[dict[str, Any]], *, rotate_credentials: bool = False
) -> list[RowResult]:
    """Validate and upsert each row on its own; a bad row is reported and does not stop the others."""
    results = []
    for i, raw in enumerate(rows, start=1):
        try:
            d = DeviceIn.model_validate(raw)
        except ValidationError as exc:
            msg = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            results.append(
                RowResult(
                    row=i, id=str(raw.get("id")) if isinstance(raw, dict) else None, status="error", error=msg
                )
            )
            continue
        with conn.transaction():
            device_store.ensure_community(conn, d.community)
            exists = device_store.get_device(conn, d.id) is not None
            password = new_password() if rotate_credentials or not exists else None
            created = device_store.upsert_device(
                conn,
                device_store.NewDevice(community_id=d.community, **d.model_dump(exclude={"community"})),
                hash_password(password) if password else None,
            )
        results.append(
            RowResult(row=i, id=d.id, status="created" if created else "updated", mqtt_password=password)
        )
    return results


CSV_COLUMNS = tuple(DeviceIn.model_fields)


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as import rows: empty cells are absent, `metadata` holds a JSON object (a cell that is
    not JSON stays text, so validation reports it on its row)."""
    reader = csv.DictReader(io.StringIO(text))
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
    return rows


def broker_accounts(
    conn: psycopg.Connection[Any], settings: Settings, current: dict[str, str] | None = None
) -> list[BrokerAccount]:
    """The hub's own account (read everything under the prefix) and one write-only account per device.
    `current`: hashes the broker has now; one that still matches its password is kept, so an unchanged
    registry gives unchanged files."""
    prefix = settings.topic_prefix
    current = current or {}

    def hashed(username: str, password: str) -> str:
        old = current.get(username)
        return old if old is not None and verify_password(password, old) else hash_password(password)

    accounts = [
        BrokerAccount(
            settings.mqtt_username,
            hashed(settings.mqtt_username, settings.mqtt_password.get_secret_value()),
            read_topics=(f"{prefix}/#",),
            write_topics=("hub/#",),
        )
    ]
    if settings.mqtt_loadgen_password is not None:
        accounts.append(
            BrokerAccount(
                LOADGEN_USER,
                hashed(LOADGEN_USER, settings.mqtt_loadgen_password.get_secret_value()),
                write_topics=(f"{prefix}/#",),
            )
        )
    for device_id, community, kind, pw_hash in device_store.broker_credentials(conn):
        accounts.append(
            BrokerAccount(
                device_id,
                pw_hash,
                write_topics=(f"{device_topic_root(prefix, community, kind, device_id)}/#",),
            )
        )
    return accounts


def export_auth(conn: psycopg.Connection[Any], settings: Settings) -> bool:
    """Write the broker's auth files where settings say; returns whether they changed (and the broker
    was asked to reload them)."""
    if settings.mqtt_auth_dir is None:
        return False
    accounts = broker_accounts(conn, settings, current_hashes(settings.mqtt_auth_dir))
    return write_auth_files(settings.mqtt_auth_dir, accounts, settings.mqtt_reload_pidfile)
