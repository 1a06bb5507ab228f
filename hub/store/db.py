"""Connections and the pool, with a start-up wait so the hub can start before the database."""

import time

import psycopg
from psycopg_pool import ConnectionPool


class DatabaseUnavailable(RuntimeError):
    pass


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=autocommit)


def wait_for_database(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(f"PostgreSQL at {_redact(url)} is not reachable: {exc}") from exc
            time.sleep(0.5)


def make_pool(url: str, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """An open pool (see `new_pool`), for commands and tests that use it at once."""
    pool = new_pool(url, min_size=min_size, max_size=max_size)
    pool.open(wait=True, timeout=30)
    return pool


def new_pool(url: str, *, min_size: int = 1, max_size: int = 8, name: str = "hub") -> ConnectionPool:
    """A pool not yet opened: the hub opens it when it starts. Connections in autocommit: a request's
    write is committed before its response goes out (FastAPI may close dependencies only after
    sending), and work that must be atomic says so with
    `conn.transaction()`. Connections are checked on checkout, so a database restart costs one
    reconnect instead of a failed request."""
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"autocommit": True},
        check=ConnectionPool.check_connection,
    )


def _redact(url: str) -> str:
    """Never put a password into a log line or an error message."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
