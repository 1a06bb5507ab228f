"""Rules: backtests for the API and the `hub rules backtest` command alike, and rule files edited through
the API — checked with the messages of `hub rules check`, backtested, saved with their history in the
database, written into this worker's rules directory and reloaded (other workers catch up by
themselves, see `hub.ingest.rules`)."""

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg

from hub.domain.errors import Conflict, Invalid, NotFound
from hub.domain.users import User
from hub.engine import backtest as engine_backtest
from hub.engine import loader
from hub.engine.loader import LoadError, digest
from hub.engine.schema import CorrelationRule, Rule
from hub.store import alerts as alert_store
from hub.store import devices as device_store
from hub.store import rule_files
from hub.store.replay import count_readings, stored_readings

Progress = Callable[[int, int, datetime], None]
"""(readings replayed, readings in range, device time reached)"""

FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.ya?ml$"
"""A rule file the API may write: a plain name in the rules directory (the database checks it too)."""
HISTORY = 100
WORKERS_WITHIN_S = 3600.0
"""Workers that recorded their rules this recently are listed with them."""
ALIVE_S = 30.0
"""A running worker records itself every 10 s (`hub.ingest.rules.SEEN_EVERY_S`)."""


class InForce(Protocol):
    """The rules in force on this worker, as `hub.ingest.rules.RuleSet` keeps them."""

    directory: Path
    files: dict[str, list[Rule]]
    hashes: dict[str, str]
    last_errors: list[LoadError]

    def texts(self) -> dict[str, str]: ...
    def catch_up(self, conn: psycopg.Connection[Any]) -> None: ...
    def write(self, name: str, content: str) -> None: ...
    def reload(self) -> list[LoadError]: ...


def chosen(in_force: list[Rule], *, rules_yaml: str | None, rule_ids: list[str] | None) -> list[Rule]:
    """A rule file's text to try instead of the rules in force, narrowed to `rule_ids`."""
    rules = in_force
    if rules_yaml is not None:
        rules, errors = loader.load_text(rules_yaml, "rules_yaml")
        if errors:
            raise Invalid("; ".join(map(str, errors)))
    if rule_ids is not None:
        unknown = set(rule_ids) - {r.id for r in rules}
        if unknown:
            raise Invalid(f"unknown rule id(s): {', '.join(sorted(unknown))}")
        rules = [r for r in rules if r.id in rule_ids]
    return rules


def backtest(
    conn: psycopg.Connection[Any],
    rules: list[Rule],
    *,
    start: datetime,
    end: datetime,
    devices: list[str] | None,
    max_readings: int | None = None,
    progress: Progress | None = None,
) -> engine_backtest.Report:
    """Nothing is dispatched. The readings are counted first: a request refuses a range over
    `max_readings` before the replay starts, and the command line shows how far it got."""
    total = count_readings(conn, start, end, devices)
    if max_readings is not None and total > max_readings:
        raise Invalid(
            f"{total} readings in range; at most {max_readings} per request: narrow the range or devices, "
            "or use `hub rules backtest`"
        )
    live = [
        engine_backtest.LiveAlert(*a)
        for a in alert_store.opened_between(conn, [r.id for r in rules], start, end, devices)
    ]
    readings = stored_readings(conn, device_store.device_refs(conn), start, end, devices)

    def step(n: int, at: datetime) -> None:
        if progress is not None:
            progress(n, total, at)

    return engine_backtest.run(rules, readings, live, until=end, progress=step)


def rule_summary(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "version": rule.version,
        "type": rule.type,
        "title": rule.title,
        "title_zh": rule.title_zh,
        "severity": rule.severity,
        "category": rule.category,
        "kinds": list(rule.kinds),
    }


def files(conn: psycopg.Connection[Any], in_force: InForce) -> dict[str, Any]:
    """The files in force on this worker with their rules and their latest saved version, and what
    every worker has in force."""
    saved = {v["file_name"]: v for v in rule_files.latest_versions(conn)}
    return {
        "files": [
            {
                "name": name,
                "hash": in_force.hashes.get(name),
                "editable": _editable(name),
                "rules": [rule_summary(r) for r in rules],
                "saved": saved.get(name),
            }
            for name, rules in sorted(in_force.files.items())
        ],
        "last_reload_errors": [asdict(e) for e in in_force.last_errors],
        "workers": workers(conn),
    }


def workers(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every hub worker seen in the last hour with the rules it has in force, and `behind`: the saved
    files whose latest version it does not run yet (for seconds after a save; longer means its reload
    failed, see `errors`)."""
    saved = rule_files.latest(conn)
    return [
        {**w, "behind": sorted(n for n, (_, h) in saved.items() if w["files"].get(n) != h)}
        for w in rule_files.loads(conn, WORKERS_WITHIN_S, ALIVE_S)
    ]


def file(conn: psycopg.Connection[Any], in_force: InForce, name: str) -> dict[str, Any]:
    """A file's text as it stands (its latest saved version, else the directory's), with its hash to
    save against, and its saved versions newest first."""
    history = rule_files.history(conn, name, HISTORY)
    found = (
        rule_files.contents(conn, [history[0]["id"]])[history[0]["id"]]
        if history
        else in_force.texts().get(name)
    )
    if found is None:
        raise NotFound(f"no rule file {name}")
    content = found
    return {
        "name": name,
        "content": content,
        "hash": digest(content),
        "in_force_hash": in_force.hashes.get(name),
        "editable": _editable(name),
        "history": history,
    }


def version(conn: psycopg.Connection[Any], name: str, version_id: int) -> dict[str, Any]:
    found = rule_files.version(conn, name, version_id)
    if found is None:
        raise NotFound(f"no version {version_id} of rule file {name}")
    return found


def check(conn: psycopg.Connection[Any], in_force: InForce, name: str, content: str) -> dict[str, Any]:
    """The rule set as it would be with `name` holding `content`, checked like `hub rules check`: every
    error (a rule id also used in another file included) and the file's rules."""
    by_file, errors = _up_to_date_candidate(conn, in_force, name, content)
    return _check_result(by_file.get(name, []), errors)


def backtest_file(
    conn: psycopg.Connection[Any],
    in_force: InForce,
    name: str,
    content: str,
    *,
    start: datetime,
    end: datetime,
    devices: list[str] | None,
    max_readings: int,
) -> dict[str, Any]:
    """The file's rules (with the rules their correlations count) replayed over stored data, beside the
    alerts the live rules of the same ids raised. A file that fails its check is refused (422)."""
    by_file, errors = _up_to_date_candidate(conn, in_force, name, content)
    if errors:
        raise _refused(errors)
    mine = by_file.get(name, [])
    counted = {base for r in mine if isinstance(r, CorrelationRule) for base in r.of}
    ids = {r.id for r in mine}
    rules = [r for rules in by_file.values() for r in rules if r.id in ids or r.id in counted]
    report = backtest(conn, rules, start=start, end=end, devices=devices, max_readings=max_readings)
    return {
        "readings": report.readings,
        "rules": [rule_summary(r) for r in mine],
        "by_rule": {k: v for k, v in report.by_rule.items() if k in ids},
        "alerts": [a for a in report.alerts if a["rule_id"] in ids],
    }


def save(
    conn: psycopg.Connection[Any],
    user: User,
    in_force: InForce,
    name: str,
    content: str,
    *,
    base_hash: str | None,
    restored_from: int | None = None,
) -> dict[str, Any]:
    """Check the file among the others, record it as a new version, write it and reload. Refused (and
    nothing changes) when it fails its check (422, each error named), when it changed since the editor
    read it at `base_hash` (409), or when it is the same as now (422). A file's first save records
    the shipped content before it, so that can be restored too."""
    if not in_force.directory.is_dir():
        raise Conflict("the rules are one file (HUB_RULES_DIR), not a directory: edit that file instead")
    with conn.transaction():
        rule_files.lock(conn)
        in_force.catch_up(conn)
        before = in_force.texts()
        current = before.get(name)
        if base_hash != (None if current is None else digest(current)):
            raise Conflict(
                f"{name} was changed since you opened it"
                + ("" if current is None else f" (now {digest(current)[:12]})")
                + "; open it again and redo your change"
            )
        if current == content:
            raise Invalid(f"{name} is unchanged; nothing to save")
        by_file, errors = _candidate(in_force, name, content)
        if errors:
            raise _refused(errors)
        if current is not None and name not in rule_files.latest(conn):
            shipped, _ = loader.load_texts(before)
            _record(conn, name, current, "shipped", None, "hub", _check_result(shipped.get(name, []), []))
        source = "saved" if restored_from is None else "restored"
        result = _check_result(by_file[name], [])
        saved = _record(conn, name, content, source, restored_from, user.username, result)
        in_force.write(name, content)
        failed = in_force.reload()
        if failed:  # the directory changed under the check: roll back, the next catch-up rewrites it
            raise _refused(failed)
    return saved


def restore(
    conn: psycopg.Connection[Any],
    user: User,
    in_force: InForce,
    name: str,
    version_id: int,
    base_hash: str | None,
) -> dict[str, Any]:
    """Save an earlier version's content again: checked among today's other files, and recorded."""
    old = version(conn, name, version_id)
    return save(conn, user, in_force, name, old["content"], base_hash=base_hash, restored_from=version_id)


def _editable(name: str) -> bool:
    return "/" not in name


def _candidate(in_force: InForce, name: str, content: str) -> tuple[dict[str, list[Rule]], list[LoadError]]:
    return loader.load_texts({**in_force.texts(), name: content})


def _up_to_date_candidate(
    conn: psycopg.Connection[Any], in_force: InForce, name: str, content: str
) -> tuple[dict[str, list[Rule]], list[LoadError]]:
    """The candidate among the latest saved versions of the other files, not a save in progress."""
    with conn.transaction():
        rule_files.lock_shared(conn, wait=True)
        in_force.catch_up(conn)
        return _candidate(in_force, name, content)


def _check_result(rules: list[Rule], errors: list[LoadError]) -> dict[str, Any]:
    return {
        "ok": not errors,
        "errors": [asdict(e) for e in errors],
        "rules": [rule_summary(r) for r in rules],
    }


def _refused(errors: list[LoadError]) -> Invalid:
    return Invalid(
        "rule file refused; the running rules stay in force: " + "; ".join(map(str, errors)),
        [asdict(e) for e in errors],
    )


def _record(
    conn: psycopg.Connection[Any],
    name: str,
    content: str,
    source: str,
    restored_from: int | None,
    by: str,
    result: dict[str, Any],
) -> dict[str, Any]:
    return rule_files.insert(
        conn,
        file_name=name,
        content=content,
        content_hash=digest(content),
        source=source,
        restored_from=restored_from,
        saved_by=by,
        check_result=result,
    )
