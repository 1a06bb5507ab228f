from collections.abc import Iterator

import psycopg
import pytest

from tests.support.services import Broker, migrated_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated TimescaleDB database for the test session, dropped afterwards."""
    with migrated_database() as url:
        yield url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    yield b
    b.cleanup()
