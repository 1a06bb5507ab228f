"""The test suite's real-service helpers (tests/support), reused so the benchmark runs what tests run.

They are loaded with importlib and given the narrow types bench uses, instead of a plain import:
scripts/test type-checks only hub and device_simulators, tests/ is not clean under the strict mypy
config (tests/support/services.py passes `**dict[str, str | int]` to make_conninfo), and a plain import
would make `mypy bench` follow into tests/ and fail on code bench does not own.
"""

import importlib
import subprocess
from pathlib import Path
from typing import Protocol, cast


class Broker(Protocol):
    port: int
    auth_dir: Path
    pid_file: Path
    proc: "subprocess.Popen[bytes] | None"

    def start(self) -> None: ...

    def cleanup(self) -> None: ...


class HubProcess(Protocol):
    proc: "subprocess.Popen[bytes] | None"

    def start(self, timeout: float = 30) -> None: ...

    def stop(self) -> None: ...

    def log(self) -> str: ...


_services = importlib.import_module("tests.support.services")
_processes = importlib.import_module("tests.support.processes")


def create_database() -> tuple[str, str]:
    """A fresh database in the private TimescaleDB cluster: (name, URL)."""
    return cast(tuple[str, str], _services.create_database())


def drop_database(name: str) -> None:
    _services.drop_database(name)


def new_broker() -> Broker:
    """A private Mosquitto on a free port, rendered from deploy/mosquitto/mosquitto.conf."""
    return cast(Broker, _services.Broker())


def new_hub(database_url: str, broker: Broker, workdir: Path, **env: str) -> HubProcess:
    """`python -m hub run` as its own process, with the test environment plus `env`."""
    return cast(HubProcess, _processes.HubProcess(database_url, broker, workdir, **env))
