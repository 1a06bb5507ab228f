"""Real services for tests: a fresh TimescaleDB database and a private Mosquitto with auth and ACL."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from hub.broker.config import TlsListener, render
from hub.store.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("HUB_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5433/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_database() -> tuple[str, str]:
    name = f"hub_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database() -> Iterator[str]:
    """A fresh database with the hub's schema, for tests whose counts must not see other tests' rows;
    dropped on the way out, whatever happened."""
    name, url = create_database()
    try:
        migrate(url)
        yield url
    finally:
        drop_database(name)


class Broker:
    """Mosquitto rendered from deploy/mosquitto/mosquitto.conf: the broker docker-compose runs."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hub-broker-"))
        self.dir.chmod(0o755)
        self.auth_dir = self.dir / "auth"
        self.data_dir = self.dir / "data"
        self.auth_dir.mkdir()
        self.data_dir.mkdir()
        self.pid_file = self.dir / "mosquitto.pid"
        self.log_file = self.dir / "mosquitto.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = self.dir / "mosquitto.conf"
        self.tls: TlsListener | None = None
        self.configure()
        if os.geteuid() == 0:
            uid = pwd.getpwnam("mosquitto").pw_uid
            for p in (self.dir, self.data_dir, self.auth_dir):
                os.chown(p, uid, -1)

    def configure(self, tls: TlsListener | None = None) -> None:
        """Render the configuration, with `tls` as a second listener beside the plain one; takes effect at
        the next start."""
        self.tls = tls
        template = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
        rendered = render(
            template,
            port=self.port,
            auth_dir=self.auth_dir,
            data_dir=self.data_dir,
            log_file=self.log_file,
            pid_file=self.pid_file,
            tls=tls,
        )
        self.conf.write_text(rendered)

    def start(self) -> None:
        """Start Mosquitto and wait until every listener accepts connections."""
        for name in ("passwd", "acl"):
            if not (self.auth_dir / name).exists():
                (self.auth_dir / name).write_text("")
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for port in (self.port, *([self.tls.port] if self.tls else [])):
            self._wait_listening(port)
        self.pid_file.write_text(str(self.proc.pid))

    def _wait_listening(self, port: int) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                        f"{self.log_file.read_text() if self.log_file.exists() else ''}"
                    ) from None
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start listening on {port}")

    def hub_env(self) -> dict[str, str]:
        """How a hub process reaches this broker and keeps its password and ACL files."""
        return {
            "HUB_MQTT_PORT": str(self.port),
            "HUB_MQTT_AUTH_DIR": str(self.auth_dir),
            "HUB_MQTT_RELOAD_PIDFILE": str(self.pid_file),
        }

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
