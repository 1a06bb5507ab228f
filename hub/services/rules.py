"""Rule backtests, for the API and the `hub rules backtest` command alike: which rules to try, and the
replay of stored data through them beside what the live rules raised."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from hub.domain.errors import Invalid
from hub.engine import backtest as engine_backtest
from hub.engine import loader
from hub.engine.schema import Rule
from hub.store import alerts as alert_store
from hub.store import devices as device_store
from hub.store.replay import count_readings, stored_readings

Progress = Callable[[int, int, datetime], None]
"""(readings replayed, readings in range, device time reached)"""


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
