"""Versioned SQL migrations, applied in order under an advisory lock and recorded with a checksum."""

import hashlib
from dataclasses import dataclass
from importlib import resources

import psycopg

_LOCK_KEY = 0x5C_4855_4201  # any constant shared by every hub process


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("hub.store").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append(Migration(int(version), name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def require_timescaledb(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    row = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        raise MigrationError(
            "TimescaleDB is not installed on this PostgreSQL server. Run scripts/setup (it builds and "
            "starts a TimescaleDB-enabled cluster) or point HUB_DATABASE_URL at a TimescaleDB server."
        )
    preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    if preload is None or "timescaledb" not in str(preload[0]):
        raise MigrationError(
            "TimescaleDB is installed but not loaded: add shared_preload_libraries = 'timescaledb' "
            "to postgresql.conf and restart PostgreSQL."
        )


def migrate(url: str) -> list[Migration]:
    """Apply what is missing; returns what was applied. Safe to run concurrently and repeatedly."""
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        require_timescaledb(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done: dict[int, str] = dict(conn.execute("SELECT version, checksum FROM schema_migrations"))
            for m in available():
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version}_{m.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
