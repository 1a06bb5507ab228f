"""A running hub for the dashboard's browser tests: its own broker, the devices of a site registered, the
test users, and a publisher speaking as the load generator, so a test can make a device report."""

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import psycopg

from device_simulators.site import SiteSpec
from device_simulators.site import devices as site_devices
from hub.devices.service import register
from hub.store.users import upsert_user
from tests.support.processes import HubProcess
from tests.support.publisher import Publisher
from tests.support.services import Broker

PASSWORD = "dash-pw"
"""Every dashboard test user's."""


def reading(kind: str, device: str, seq: int, at: datetime, **override: Any) -> dict[str, Any]:
    """Ordinary telemetry of a device of `kind`, with `override` on top (an alarm, a low battery …)."""
    base: dict[str, Any] = {"device_id": device, "ts": at.isoformat(), "seq": seq}
    values: dict[str, dict[str, Any]] = {
        "smoke_detector": {
            "smoke_obscuration_pct_per_m": 0.1 + (seq % 5) * 0.02,
            "temperature_c": 21.0 + (seq % 12) * 0.3,
            "battery_pct": 85.0,
            "alarm": False,
        },
        "lamppost": {
            "lamp_on": True,
            "dim_level_pct": 80.0,
            "power_w": 96.0,
            "voltage_v": 221.0,
            "current_a": 0.44,
            "pole_tilt_deg": 0.3,
        },
        "manhole": {
            "tilt_deg": 0.5,
            "cover_open": False,
            "water_level_cm": 20.0 + seq % 7,
            "ch4_pct_lel": 0.0,
            "h2s_ppm": 0.0,
            "battery_pct": 70.0,
        },
        "access_gate": {"door_open": False, "uptime_s": 1000 + seq},
    }
    return {**base, **values[kind], **override}


class LiveSite:
    """The hub process of a site, and what the tests do to it from outside: publish and query."""

    def __init__(self, hub: HubProcess, publisher: Publisher, database_url: str, spec: SiteSpec) -> None:
        self.hub = hub
        self.url = hub.url
        self.publisher = publisher
        self.database_url = database_url
        self.kinds = {d.id: (d.kind, d.community) for d in site_devices(spec)}
        self.seq = 0

    @classmethod
    @contextmanager
    def running(
        cls,
        database_url: str,
        workdir: Path,
        spec: SiteSpec,
        users: Mapping[str, tuple[str, Sequence[str]]],
        **hub_env: str,
    ) -> Iterator[Self]:
        """Registers the site's devices (they must be new) and `users` (all with PASSWORD), then starts a
        broker, the hub with `hub_env` and the publisher; all stopped on the way out."""
        loadgen_password = secrets.token_urlsafe(12)
        with psycopg.connect(database_url, autocommit=True) as conn:
            for name, (role, communities) in users.items():
                upsert_user(conn, name, PASSWORD, role, list(communities))
            rows = [d.registration() for d in site_devices(spec)]
            assert all(r.status == "created" for r in register(conn, rows)), "devices must be new"
        with ExitStack() as stack:
            broker = Broker()
            stack.callback(broker.cleanup)
            broker.start()
            hub = HubProcess(
                database_url, broker, workdir, HUB_MQTT_LOADGEN_PASSWORD=loadgen_password, **hub_env
            )
            stack.callback(hub.stop)
            hub.start()
            publisher = Publisher(broker.port, "loadgen", loadgen_password)
            stack.callback(publisher.close)
            yield cls(hub, publisher, database_url, spec)

    def publish(self, device: str, at: datetime | None = None, **override: Any) -> None:
        """The device's next reading (now, unless `at`), acknowledged by the broker."""
        kind, community = self.kinds[device]
        self.seq += 1
        self.publisher.publish(
            f"sc/v1/{community}/{kind}/{device}/telemetry",
            reading(kind, device, self.seq, at or datetime.now(UTC), **override),
        ).wait_for_publish(5)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
