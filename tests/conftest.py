from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.support.cluster import RabbitCluster
from tests.support.services import Broker, migrated_database
from tests.support.standby import Replicated, replicated


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated TimescaleDB database for the test session, dropped afterwards."""
    with migrated_database() as url:
        yield url


@pytest.fixture(scope="session")
def standby_pair() -> Iterator[Replicated]:
    """A throw-away primary with a migrated hub database and its streaming standby (a few seconds to
    build); for the tests of `HUB_DATABASE_READ_URL`."""
    with replicated() as pair:
        yield pair


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def setup_conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """For a module's own set-up: module-scoped fixtures cannot use the per-test `conn`."""
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    yield b
    b.cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per browser test module; each test opens a context of its own in it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[RabbitCluster]:
    """One 3-node RabbitMQ cluster for the session (it takes about half a minute to form); a test that
    kills a node gets it back from `ensure_up` in the next test's set-up."""
    cluster = RabbitCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()
