"""The hub's ingest threads carry their names for the operating system, and the benchmark counts CPU
by those names: which thread uses the CPU is read off /proc, without a profiler."""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import procstat
from hub.ingest.client import MQTT_THREAD
from hub.ingest.pipeline import PIPELINE_THREAD, WRITER_THREAD
from hub.ingest.thread_names import name_os_thread
from tests.support.processes import HubProcess
from tests.support.publisher import Publisher, smoke
from tests.support.services import Broker

LOADGEN = "loadgen-thread-names-pw"


@pytest.fixture
def hub(database_url: str, broker: Broker, tmp_path: Path) -> Iterator[HubProcess]:
    h = HubProcess(database_url, broker, tmp_path, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN)
    h.start()
    yield h
    h.stop()


def _burn(name: str, seconds: float, release: threading.Event) -> None:
    name_os_thread(name)
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    release.wait(10)


def test_a_named_thread_is_counted_under_its_name() -> None:
    release = threading.Event()
    burner = threading.Thread(target=_burn, args=("cpu-burner-for-a-test", 0.3, release))
    burner.start()
    deadline = time.monotonic() + 10
    seen: dict[str, float] = {}
    while time.monotonic() < deadline and seen.get("cpu-burner-for-", 0.0) < 0.25:
        time.sleep(0.05)
        seen = procstat.thread_cpu_seconds(os.getpid())
    release.set()
    burner.join()
    assert seen.get("cpu-burner-for-", 0.0) >= 0.25  # the name cut to the kernel's 15 bytes
    assert procstat.thread_cpu_seconds(2**22 + 1) == {}


def test_the_running_hub_shows_its_ingest_threads_by_name(hub: HubProcess) -> None:
    """The writer thread starts with the first batch: a message of an unknown device, dead-lettered."""
    assert hub.proc is not None
    pub = Publisher(int(hub.env["HUB_MQTT_PORT"]), "loadgen", LOADGEN)
    pub.publish("sc/v1/tn/smoke_detector/tn-unknown/telemetry", smoke("tn-unknown", 1)).wait_for_publish(5)
    pub.close()
    wanted = {PIPELINE_THREAD, WRITER_THREAD, MQTT_THREAD}
    deadline = time.monotonic() + 15
    names: set[str] = set()
    while time.monotonic() < deadline and not wanted <= names:
        time.sleep(0.1)
        names = set(procstat.thread_cpu_seconds(hub.proc.pid))
    assert wanted <= names, names
