"""A throw-away primary and its streaming standby, for the tests of `HUB_DATABASE_READ_URL`.

The primary is a cluster of its own (the same PostgreSQL 15 binaries and TimescaleDB as the shared test
cluster), so pausing, stopping and restarting its standby touch nobody else's tests; it is small
(`fsync` off, few buffers) and starts in about a second. The standby is made as an operator would:
`pg_basebackup -R` (a base backup that streams its write-ahead log and writes the standby's connection
settings), started on its own port with `hot_standby_feedback` on so that long reads are not cancelled
by the primary's vacuum."""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from hub.store.migrations import migrate
from tests.support.services import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "hub"


def _as_postgres(*args: str) -> list[str]:
    """PostgreSQL refuses to run as root; the tests run as root on the test machines."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class Server:
    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port

    def url(self, dbname: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.data / "server.log"),
                "-w",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
            check=False,
            capture_output=True,
        )

    def configure(self, **settings: str) -> None:
        """Appended to postgresql.conf, where the last line for a name wins."""
        with (self.data / "postgresql.conf").open("a") as f:
            f.writelines(f"{name} = {value}\n" for name, value in settings.items())


class Replicated:
    """A primary with a migrated hub database, and a hot standby streaming from it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.primary = Server(root / "primary", free_port())
        self.standby = Server(root / "standby", free_port())

    def build(self) -> None:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.primary.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth=trust",
            ),
            check=True,
            capture_output=True,
        )
        self.primary.configure(
            listen_addresses="'127.0.0.1'",
            port=str(self.primary.port),
            unix_socket_directories=f"'{self.primary.data}'",
            shared_preload_libraries="'timescaledb'",
            **{"timescaledb.telemetry_level": "off"},
            shared_buffers="32MB",
            fsync="off",
            wal_level="replica",
            max_wal_senders="4",
        )
        self.primary.start()
        with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        migrate(self.primary.url())
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.standby.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ),
            check=True,
            capture_output=True,
        )
        self.standby.configure(
            port=str(self.standby.port),
            unix_socket_directories=f"'{self.standby.data}'",
            hot_standby="on",
            hot_standby_feedback="on",
        )
        self.start_standby()

    def start_standby(self) -> None:
        """Start it and wait until it streams from the primary and has caught up."""
        self.standby.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(self.primary.url(), autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row is not None and row[0] == 1:
                self.wait_replayed()
                return
            time.sleep(0.1)
        raise RuntimeError(f"the standby does not stream:\n{self.log(self.standby)}")

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary had written when this was called."""
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
                if done is not None and done[0]:
                    return
                time.sleep(0.05)
        raise RuntimeError(f"the standby did not replay up to {target}")

    def pause_replay(self) -> None:
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while True:
                row = conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()
                if row is not None and row[0] == "paused":
                    return
                time.sleep(0.02)

    def resume_replay(self) -> None:
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    @staticmethod
    def log(server: Server) -> str:
        path = server.data / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        self.standby.stop("immediate")
        self.primary.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def replicated() -> Iterator[Replicated]:
    """A primary and its streaming standby under /tmp, both stopped and removed on the way out."""
    root = Path(tempfile.mkdtemp(prefix="hub-standby-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pair = Replicated(root)
    try:
        pair.build()
        yield pair
    finally:
        pair.close()
