from collections.abc import Iterator

import psycopg
import pytest

from hub.store.migrations import migrate
from tests.support.services import Broker, create_database, drop_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated TimescaleDB database for the test session, dropped afterwards."""
    name, url = create_database()
    migrate(url)
    yield url
    drop_database(name)


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
