"""The pipeline's cache of the device registry."""

import time
from typing import Any

import psycopg

from hub.domain.devices import DeviceRef
from hub.store import devices as device_store

RELOAD_EVERY_S = 60.0
CHECK_EVERY_S = 1.0


class RegistryCache:
    """Devices it does not know are looked up as their messages arrive (a device registered a moment
    ago is not refused). A change to the registry (a device decommissioned, moved to another community)
    bumps its version, which is compared at most every second; all of it is reloaded then, and every
    minute in any case."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceRef] = {}
        self._loaded_at = float("-inf")
        self._checked_at = float("-inf")
        self._version: int | None = None
        self._retired: set[str] = set()
        self._identified: dict[tuple[str, str], str | None] = {}
        """device ids by (`imei` or `vendor_id`, value), None for a value no device has; cleared on reload"""

    def reload(self, conn: psycopg.Connection[Any]) -> dict[str, DeviceRef]:
        version = device_store.registry_version(conn)
        before = {d.id for d in self.devices.values() if not d.decommissioned}
        self.devices, self._loaded_at = device_store.device_refs(conn), time.monotonic()
        self._identified = {}
        self._version, self._checked_at = version, self._loaded_at
        self._retired |= {i for i in before if (d := self.devices.get(i)) is None or d.decommissioned}
        return self.devices

    def covering(self, conn: psycopg.Connection[Any], wanted: set[str]) -> dict[str, DeviceRef]:
        if time.monotonic() - self._loaded_at > RELOAD_EVERY_S or self.changed(conn):
            return self.reload(conn)
        if unknown := wanted - self.devices.keys():
            self.devices.update(device_store.device_refs(conn, unknown))
        return self.devices

    def identified(self, conn: psycopg.Connection[Any], key: str, value: str) -> str | None:
        """The id of the device whose metadata holds `key` = `value` (an adapter's look-up), asked of the
        database once until the registry changes."""
        if (key, value) not in self._identified:
            found = device_store.ids_by_metadata(conn, key, [value]).get(value)
            self._identified[(key, value)] = found
        return self._identified[(key, value)]

    def changed(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether the registry's version moved since the last load (read at most every second)."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S:
            return False
        self._checked_at = now
        return device_store.registry_version(conn) != self._version

    def take_retired(self) -> set[str]:
        """Devices decommissioned or removed since the last call: the rules stop waiting for them."""
        retired, self._retired = self._retired, set()
        return retired
