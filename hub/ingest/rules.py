"""The rules in force on this worker: loaded from its rules directory, reloaded on request or when the
files change, and a bad file changes nothing.

Rule files saved through the API live in the database, the source of truth: `catch_up` writes the
latest saved version of each file into the directory and reloads, at start-up and every two seconds
(`watch`), so a save made on one worker is in force on every worker within seconds. A file never saved
there stays as shipped. Each load is recorded per worker (`rule_loads`), so the API can show which
worker runs which version.
"""

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from hub.engine import loader
from hub.engine.loader import LoadError, digest
from hub.engine.schema import Rule
from hub.store import rule_files

log = logging.getLogger(__name__)

SEEN_EVERY_S = 10.0
"""How often a running worker refreshes its `rule_loads.seen_at`."""


class RuleSet:
    def __init__(
        self,
        directory: Path,
        apply: Callable[[list[Rule]], None],
        *,
        pool: ConnectionPool | None = None,
        worker: str = "",
    ) -> None:
        self.directory = directory
        self.worker = worker
        self._apply = apply
        self._pool = pool
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.files: dict[str, list[Rule]] = {}
        """Rules in force by file name inside the directory."""
        self.hashes: dict[str, str] = {}
        """Content hash of each file in force."""
        self.last_errors: list[LoadError] = []
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._seen_at = 0.0

    def load(self) -> list[Rule]:
        """The first load, at start-up, once the saved files are written: a bad file stops the start
        (RulesRejected) instead of running without rules."""
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction():
                rule_files.lock_shared(conn, wait=True)
                self._write_saved(conn)
        with self._lock:
            self._fingerprint = self._files_fingerprint()
            texts, files, errors = self._read()
            if errors:
                raise loader.RulesRejected(errors)
            self._keep(texts, files)
        self._record()
        return self.rules

    def reload(self) -> list[LoadError]:
        """Load every file again; on any error keep the running rules and return the errors."""
        with self._lock:
            self._fingerprint = self._files_fingerprint()
            texts, files, errors = self._read()
            self.last_errors = errors
            if errors:
                log.error(
                    "rule files rejected, the running rules stay in force:\n%s", "\n".join(map(str, errors))
                )
            else:
                self._keep(texts, files)
                self._apply(self.rules)
        self._record()
        return errors

    def reload_if_changed(self) -> None:
        if self._files_fingerprint() != self._fingerprint:
            self.reload()

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """Write the saved files that differ from the directory and reload if any did. The caller holds
        the rules lock (`hub.store.rule_files`), so no save commits meanwhile."""
        if self._write_saved(conn):
            self.reload()

    def watch(self) -> None:
        """The scheduler's job: catch up with saves made on any worker, unless one is being saved now
        (the next run catches up), and reload on a hand edit of the directory."""
        if self._pool is not None:
            try:
                with self._pool.connection() as conn:
                    with conn.transaction():
                        if rule_files.lock_shared(conn, wait=False):
                            self.catch_up(conn)
                    if time.monotonic() - self._seen_at >= SEEN_EVERY_S:
                        rule_files.record_seen(conn, self.worker)
                        self._seen_at = time.monotonic()
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("cannot compare the rule files with the saved versions now: %s", exc)
        self.reload_if_changed()

    def texts(self) -> dict[str, str]:
        """The rule files in the directory now, by name."""
        return loader.read(self.directory, relative=True)[0]

    def write(self, name: str, content: str) -> None:
        """Replace one file at once (a reader sees the old or the new content, never half of it)."""
        target = self.directory / name
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _write_saved(self, conn: psycopg.Connection[Any]) -> list[str]:
        if not self.directory.is_dir():
            return []
        on_disk = self.texts()
        stale = {
            n: v
            for n, (v, h) in rule_files.latest(conn).items()
            if n not in on_disk or digest(on_disk[n]) != h
        }
        if not stale:
            return []
        saved = rule_files.contents(conn, list(stale.values()))
        for name, version_id in sorted(stale.items()):
            self.write(name, saved[version_id])
            log.info("rule file %s: wrote saved version %d into %s", name, version_id, self.directory)
        return sorted(stale)

    def _read(self) -> tuple[dict[str, str], dict[str, list[Rule]], list[LoadError]]:
        texts, errors = loader.read(self.directory, relative=True)
        files, more = loader.load_texts(texts)
        return texts, files, errors + more

    def _keep(self, texts: dict[str, str], files: dict[str, list[Rule]]) -> None:
        self.files = files
        self.rules = [rule for rules in files.values() for rule in rules]
        self.hashes = {name: digest(text) for name, text in texts.items()}
        self.last_errors = []

    def _record(self) -> None:
        """What this worker has in force, for the API; a database that is away only costs the record."""
        if self._pool is None:
            return
        try:
            with self._pool.connection() as conn:
                rule_files.record_load(
                    conn, self.worker, self.hashes, len(self.rules), [asdict(e) for e in self.last_errors]
                )
            self._seen_at = time.monotonic()
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("could not record the rules in force: %s", exc)

    def _files_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for f in loader.rule_files(self.directory):
            try:
                st = f.stat()
            except OSError:
                continue
            found.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(found)
