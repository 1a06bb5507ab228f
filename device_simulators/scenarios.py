"""Scenarios: scripted incidents played through real device connections."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_simulators.models import DeviceModel, build
from device_simulators.mqtt import DeviceLink


def fire(
    links: list[DeviceLink], *, seed: int, steps: int, step_s: float, sleep: Callable[[float], Any]
) -> int:
    """Smoke rises in the building's detectors over `steps` readings, temperature following, until
    the detectors alarm. Returns the number of messages published (all acknowledged by the broker)."""
    models: dict[str, DeviceModel] = {link.device.id: build(link.device, seed) for link in links}
    sent = 0
    for step in range(1, steps + 1):
        level = step / steps
        infos = []
        for i, link in enumerate(links):
            lag = i / max(len(links), 1) * 0.3
            intensity = max(0.0, min(1.0, (level - lag) / (1 - lag)))
            smoke = 0.1 + 5.9 * intensity
            m = models[link.device.id]
            m.overrides = {
                "smoke_obscuration_pct_per_m": round(smoke, 2),
                "temperature_c": round(22 + 40 * intensity**2, 1),
                "alarm": smoke >= 3.0,
            }
            infos.append(link.publish("telemetry", m.telemetry(datetime.now(UTC))))
        for info in infos:
            info.wait_for_publish(10)
            sent += 1
        if step < steps:
            sleep(step_s)
    return sent


SCENARIOS = {"fire": fire}
