"""The pipeline's cache of the device registry."""

import time
from typing import Any

import psycopg

from hub.domain.devices import DeviceRef
from hub.store import devices as device_store

RELOAD_EVERY_S = 60.0


class RegistryCache:
    """Devices it does not know are looked up as their messages arrive (a device registered a moment
    ago is not refused), and all of it is reloaded every minute for changes to known devices (moved to
    another building, say)."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceRef] = {}
        self._loaded_at = float("-inf")

    def reload(self, conn: psycopg.Connection[Any]) -> dict[str, DeviceRef]:
        self.devices, self._loaded_at = device_store.device_refs(conn), time.monotonic()
        return self.devices

    def covering(self, conn: psycopg.Connection[Any], wanted: set[str]) -> dict[str, DeviceRef]:
        if time.monotonic() - self._loaded_at > RELOAD_EVERY_S:
            return self.reload(conn)
        if unknown := wanted - self.devices.keys():
            self.devices.update(device_store.device_refs(conn, unknown))
        return self.devices
