"""Running a fleet: every device on its own connection, publishing at its kind's interval."""

import logging
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from device_simulators.models import AccessGate, DeviceModel, build
from device_simulators.mqtt import DeviceLink
from device_simulators.site import SimDevice

log = logging.getLogger(__name__)

INTERVAL_S = {"smoke_detector": 60.0, "lamppost": 60.0, "manhole": 60.0, "access_gate": 30.0}


@dataclass
class FleetStats:
    published: int = 0
    errors: int = 0


def connect(
    devices: list[SimDevice], credentials: dict[str, str], host: str, port: int, *, role: str = "device"
) -> list[DeviceLink]:
    missing = [d.id for d in devices if d.id not in credentials]
    if missing:
        raise SystemExit(
            f"no credentials for {len(missing)} device(s), e.g. {missing[0]}: run `hub-sim provision`"
        )
    links = [DeviceLink(d, credentials[d.id], host, port, role=role) for d in devices]
    for link in links:
        if not link.wait_connected(15):
            raise SystemExit(
                f"device {link.device.id} could not connect to {host}:{port} (check credentials/ACL)"
            )
    return links


def run(
    links: list[DeviceLink], *, seed: int, seconds: float | None, speed: float, stop: threading.Event
) -> FleetStats:
    """Publish until `seconds` pass or `stop` is set; `speed` shortens every interval (2 = twice as often)."""
    models: dict[str, DeviceModel] = {link.device.id: build(link.device, seed) for link in links}
    stats = FleetStats()
    start = time.monotonic()
    due = {link.device.id: start + (i % 20) * 0.05 for i, link in enumerate(links)}
    last_status = start
    while not stop.is_set() and (seconds is None or time.monotonic() - start < seconds):
        now_mono = time.monotonic()
        now = datetime.now(UTC)
        for link in links:
            model = models[link.device.id]
            if now_mono >= due[link.device.id]:
                _send(link, "telemetry", model.telemetry(now), stats)
                due[link.device.id] = now_mono + INTERVAL_S[link.device.kind] / speed
            if (
                isinstance(model, AccessGate)
                and model.rng.random() < model.access_rate_per_min(now) * speed / 60 / 5
            ):
                _send(link, "event", model.access_event(now), stats)
        if sys.stderr.isatty() and now_mono - last_status >= 1:
            rate = stats.published / max(now_mono - start, 1e-9)
            print(
                f"\rdevices {len(links)}  msgs {stats.published}  {rate:.1f} msg/s  errors {stats.errors}  ",
                end="",
                file=sys.stderr,
            )
            last_status = now_mono
        stop.wait(0.2)
    return stats


def _send(link: DeviceLink, channel: str, payload: dict[str, object], stats: FleetStats) -> None:
    info = link.publish(channel, payload)
    if info.rc == 0:
        stats.published += 1
    else:
        stats.errors += 1
