"""A 3-node RabbitMQ cluster on loopback, started by scripts/rabbitmq-cluster (the script users run), with
a name, ports and a data directory of its own so it never meets the machine's RabbitMQ or another run."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import ROOT

SCRIPT = ROOT / "scripts" / "rabbitmq-cluster"
NODES = 3
NOWHERE = "http://127.0.0.1:9/no-hub-yet"
"""Where the nodes send auth calls until a test points them at its hub: every login is refused."""


def _free_block() -> int:
    """A base port whose nine ports (AMQP, MQTT, distribution on three nodes) are all free."""
    for base in range(30000 + (os.getpid() % 200) * 50, 60000, 50):
        ports = [base + 10 * n + k for n in range(1, NODES + 1) for k in range(3)]
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no free block of ports for the RabbitMQ cluster")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Node:
    name: str
    mqtt_port: int
    pid_file: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.mqtt_port}"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class RabbitCluster:
    def __init__(self, auth_cache_ms: int = 2000) -> None:
        """`auth_cache_ms`: how long the nodes keep the hub's answers (tests: short, so a refusal shows
        quickly)."""
        self.auth_cache_ms = auth_cache_ms
        self.dir = Path(tempfile.mkdtemp(prefix="hub-rabbit-"))
        self.name = f"hubt{os.getpid()}n"
        self.base = _free_block()
        self.nodes = [
            Node(f"{self.name}{n}@localhost", self.base + 10 * n + 1, self.dir / f"node{n}" / "pid")
            for n in range(1, NODES + 1)
        ]
        self.auth_url = NOWHERE
        self.start_s = 0.0
        self._restarting: subprocess.Popen[str] | None = None

    def _argv(self, *args: str) -> list[str]:
        return [str(SCRIPT), *args, "--dir", str(self.dir)]

    def _start_argv(self) -> list[str]:
        return self._argv(
            "start",
            self.auth_url,
            "--name",
            self.name,
            "--base-port",
            str(self.base),
            "--auth-cache-ms",
            str(self.auth_cache_ms),
        )

    def _run(self, argv: list[str]) -> str:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self) -> None:
        """Start the nodes that are not running (all of them the first time) and wait for the cluster."""
        t0 = time.monotonic()
        self._run(self._start_argv())
        self.start_s = time.monotonic() - t0

    def restart_in_background(self) -> None:
        """Bring killed nodes back while a test goes on checking; `ensure_up` waits for it."""
        if self._restarting is None:
            self._restarting = subprocess.Popen(
                self._start_argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )

    def ensure_up(self) -> None:
        if self._restarting is not None:
            out, _ = self._restarting.communicate(timeout=300)
            failed = self._restarting.returncode != 0
            self._restarting = None
            if failed:
                raise RuntimeError(f"rabbitmq-cluster start failed:\n{out}")
        if not all(n.alive() for n in self.nodes):
            self.start()

    def point(self, auth_url: str) -> None:
        """Every running node calls `auth_url` from now on (answers it cached live out their time)."""
        self.auth_url = auth_url
        self._run(self._argv("point", auth_url))

    def kill(self, index: int) -> None:
        """kill -9 of one node's Erlang VM, as a crashed machine."""
        node = self.nodes[index]
        pid = node.pid()
        assert pid is not None, f"{node.name} has no pid"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while node.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def addresses(self, *order: int) -> str:
        """`HUB_MQTT_HOSTS` for the given node order (default: all, in order)."""
        return ",".join(self.nodes[i].address for i in (order or range(NODES)))

    def hub_env(self) -> dict[str, str]:
        return {"HUB_MQTT_HOSTS": self.addresses()}

    def cleanup(self) -> None:
        if self._restarting is not None:
            self._restarting.communicate(timeout=300)
        subprocess.run(
            [str(SCRIPT), "stop", "--dir", str(self.dir)], capture_output=True, timeout=120, check=False
        )
        for node in self.nodes:
            pid = node.pid()
            if pid is not None and node.alive():
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
