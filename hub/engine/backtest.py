"""Backtests: what a rule set would have raised over stored data, beside what the live rules raised."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain.alerts import AlertOpened
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine
from hub.engine.replay import replay
from hub.engine.schema import Rule


@dataclass(frozen=True)
class LiveAlert:
    rule_id: str
    subject: str
    opened_at: datetime


@dataclass
class Report:
    readings: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)


def run(
    rules: list[Rule],
    readings: Iterable[Reading],
    live: list[LiveAlert],
    *,
    until: datetime,
    progress: Callable[[int, datetime], None] | None = None,
) -> Report:
    """Replay through a fresh engine (nothing is dispatched) and compare alert for alert with the live
    alerts of the same rules: `matched` are raised by both for the same subject and opening time."""
    engine = Engine(rules)
    report = Report()

    def count(n: int, at: datetime) -> None:
        report.readings = n
        if progress is not None:
            progress(n, at)

    transitions = replay(engine, readings, until=until, tick_every=engine.tick_resolution(), progress=count)
    live_keys = {(a.rule_id, a.subject, a.opened_at) for a in live}
    for t in transitions:
        if not isinstance(t, AlertOpened):
            continue
        matched = (t.rule.id, t.subject, t.opened_at) in live_keys
        report.alerts.append(
            {
                "rule_id": t.rule.id,
                "rule_version": t.rule.version,
                "subject": t.subject,
                "opened_at": t.opened_at.isoformat(),
                "explanation": t.explanation,
                "live": matched,
            }
        )
    for rule in rules:
        would = [a for a in report.alerts if a["rule_id"] == rule.id]
        live_n = sum(a.rule_id == rule.id for a in live)
        both = sum(a["live"] for a in would)
        report.by_rule[rule.id] = {
            "backtest": len(would),
            "live": live_n,
            "matched": both,
            "only_backtest": len(would) - both,
            "only_live": live_n - both,
        }
    return report
