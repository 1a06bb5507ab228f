"""Replaying readings through an engine: the backtest and the restart recovery share this driver, so
both give what the live engine gave."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from hub.domain.alerts import Transition
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine, Evaluation
from hub.engine.schema import CorrelationRule, CountRule, RateRule, Rule, ThresholdRule


def replay(
    engine: Engine,
    readings: Iterable[Reading],
    *,
    until: datetime,
    tick_every: timedelta | None,
    progress: Callable[[int, datetime], None] | None = None,
) -> list[Transition]:
    """Feed readings in order, letting time pass between them in steps of `tick_every` (for absence
    rules; None skips that); returns every transition in order."""
    out: list[Transition] = []
    next_tick: datetime | None = None
    n = 0
    for n, r in enumerate(readings, start=1):
        if tick_every is not None:
            next_tick = next_tick or r.ts + tick_every
            while next_tick <= r.ts:
                out += _commit(engine, engine.tick(next_tick))
                next_tick += tick_every
        out += _commit(engine, engine.evaluate([r]))
        if progress is not None and n % 1000 == 0:
            progress(n, r.ts)
    if tick_every is not None and next_tick is not None:
        while next_tick < until:
            out += _commit(engine, engine.tick(next_tick))
            next_tick += tick_every
    out += _commit(engine, engine.tick(until))
    if progress is not None:
        progress(n, until)
    return out


def _commit(engine: Engine, evaluation: Evaluation) -> list[Transition]:
    engine.commit(evaluation)
    return evaluation.transitions


def lookback(rules: Iterable[Rule]) -> timedelta:
    """How much history rebuilds every rule's state: the longest duration or window, plus a minute.
    Absence rules need none: their clocks restart from each device's last-seen time."""
    longest = 0.0
    for rule in rules:
        if isinstance(rule, ThresholdRule):
            longest = max(longest, rule.hold, rule.clear_for)
        elif isinstance(rule, CountRule | RateRule):
            longest = max(longest, rule.window)
        elif isinstance(rule, CorrelationRule):
            longest = max(longest, rule.within)
    return timedelta(seconds=min(longest + 60, 86_400))
