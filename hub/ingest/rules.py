"""The rules in force: reloads on request or when the files change, and a bad file changes nothing."""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from hub.engine import loader
from hub.engine.loader import LoadError
from hub.engine.schema import Rule

log = logging.getLogger(__name__)


class RuleSet:
    def __init__(self, directory: Path, apply: Callable[[list[Rule]], None]) -> None:
        self.directory = directory
        self._apply = apply
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.last_errors: list[LoadError] = []
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()

    def load(self) -> list[Rule]:
        """The first load, at start-up: a bad file stops the start (RulesRejected) instead of running
        without rules."""
        with self._lock:
            self._fingerprint = self._files_fingerprint()
            self.rules = loader.load(self.directory)
            return self.rules

    def reload(self) -> list[LoadError]:
        """Load every file again; on any error keep the running rules and return the errors."""
        with self._lock:
            self._fingerprint = self._files_fingerprint()
            try:
                rules = loader.load(self.directory)
            except loader.RulesRejected as exc:
                self.last_errors = exc.errors
                log.error("rule files rejected, the running rules stay in force:\n%s", exc)
                return exc.errors
            self.rules, self.last_errors = rules, []
            self._apply(rules)
            return []

    def reload_if_changed(self) -> None:
        if self._files_fingerprint() != self._fingerprint:
            self.reload()

    def _files_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for f in loader.rule_files(self.directory):
            try:
                st = f.stat()
            except OSError:
                continue
            found.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(found)
