"""The `hub` command run in-process by a test, with settings from the environment as in production."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hub.settings import get_settings
from tests.support.services import ROOT


@contextmanager
def command_settings(monkeypatch: pytest.MonkeyPatch, database_url: str, **extra: str) -> Iterator[None]:
    """The test's database, the repository's routing and rules, and `extra` (HUB_ name → value) as the
    command's environment; the cached settings are dropped on entry and exit, so neither this test nor a
    later one reads another's."""
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_ROUTING_FILE": str(ROOT / "config" / "routing.yaml"),
        "HUB_RULES_DIR": str(ROOT / "rules"),
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
