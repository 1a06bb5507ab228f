"""The hub and the simulators as separate processes, as they run in production."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.support.services import ROOT, Broker, free_port


class BrokerUnderTest(Protocol):
    """Mosquitto (`services.Broker`) or a RabbitMQ cluster (`cluster.RabbitCluster`)."""

    def hub_env(self) -> dict[str, str]: ...


class HubProcess:
    def __init__(self, database_url: str, broker: BrokerUnderTest, workdir: Path, **extra_env: str) -> None:
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.mqtt_password = "hub-test-password"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_ENVIRONMENT": "test",
            "HUB_DATABASE_URL": database_url,
            **broker.hub_env(),
            "HUB_MQTT_PASSWORD": self.mqtt_password,
            "HUB_MQTT_CLIENT_ID": f"hub-test-{self.api_port}",
            "HUB_RULES_DIR": str(ROOT / "rules"),
            "HUB_ROUTING_FILE": str(ROOT / "config" / "routing.yaml"),
            "HUB_DASHBOARD_DIR": str(ROOT / "dashboards" / "web"),
            "HUB_API_PORT": str(self.api_port),
            "HUB_BATCH_MAX_DELAY_MS": "50",
            **extra_env,
        }
        self.workdir = workdir
        self.log_path = workdir / f"hub-{self.api_port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run"],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/api/v1/health", timeout=1)
                if r.status_code == 200 and r.json()["ingest"] in ("subscribed", "off"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"hub did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def provision(self, site: Path, credentials: Path, admin: str, password: str) -> None:
        """The site's devices registered through this hub's API by `hub-sim provision`, as an installer
        would; their MQTT credentials go to `credentials`."""
        hub_sim(
            "provision",
            "--site",
            str(site),
            "--api",
            self.url,
            "--admin-user",
            admin,
            "--credentials",
            str(credentials),
            env={"HUB_ADMIN_PASSWORD": password},
        )

    def login(self, username: str, password: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def running_hub(database_url: str, workdir: Path, **env: str) -> Iterator[HubProcess]:
    """A hub process with a broker of its own, both stopped on the way out: for module-scoped fixtures,
    which cannot use the per-test `broker`."""
    broker = Broker()
    broker.start()
    process = HubProcess(database_url, broker, workdir, **env)
    try:
        process.start()
        yield process
    finally:
        process.stop()
        broker.cleanup()


def hub_sim(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "device_simulators.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"hub-sim {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def poll(fn: Any, *, timeout: float, interval: float = 0.2) -> Any:
    """Call fn until it returns something truthy; bounded, so a broken stage fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)
