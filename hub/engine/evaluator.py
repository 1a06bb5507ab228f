"""The pure rule evaluator: readings in, alert transitions out, time taken from the readings.

Durations run on device time, so a replay of stored data gives the same alerts as the live stream.
Policy for late data: a reading older than the last one evaluated for the same rule and device is
stored but does not move that rule's state (it cannot re-open or clear an alert after the fact).

Evaluation is staged: `evaluate` returns the new states without keeping them, and the caller keeps them
with `commit` only once the batch's transaction is committed, so a failed write can be retried
without counting a reading twice.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.domain.devices import DeviceRef
from hub.engine.expr import Compiled, compile_expr, referenced_names
from hub.engine.schema import Rule


@dataclass(frozen=True, slots=True)
class Reading:
    device: DeviceRef
    ts: datetime
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ThresholdState:
    last_ts: datetime
    active: bool = False
    cond_since: datetime | None = None
    clear_since: datetime | None = None
    first_values: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AlertOpened:
    rule: Rule
    device: DeviceRef
    subject: str
    started_at: datetime
    opened_at: datetime
    explanation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertCleared:
    rule: Rule
    subject: str
    cleared_at: datetime
    reason: str


Transition = AlertOpened | AlertCleared
StateKey = tuple[str, str]


@dataclass
class Evaluation:
    transitions: list[Transition] = field(default_factory=list)
    staged: dict[StateKey, ThresholdState] = field(default_factory=dict)


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    when: Compiled
    clear: Compiled
    metrics: tuple[str, ...]


def _compile(rule: Rule) -> _Compiled:
    names = rule.metric_names()
    when = compile_expr(rule.when, names)
    if rule.clear_when is not None:
        clear = compile_expr(rule.clear_when, names)
    else:

        def clear(v: Mapping[str, Any]) -> bool:
            return not when(v)

    used = referenced_names(rule.when) | (referenced_names(rule.clear_when) if rule.clear_when else set())
    return _Compiled(rule, when, clear, tuple(sorted(used & names)))


class Engine:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self._states: dict[StateKey, ThresholdState] = {}
        self._by_kind: dict[str, list[_Compiled]] = {}
        self.rules: list[Rule] = []
        self.replace_rules(rules)

    def replace_rules(self, rules: Iterable[Rule]) -> None:
        """Swap the rule set; state is kept for rules whose content did not change."""
        rules = list(rules)
        versions = {r.id: r.version for r in rules}
        old = {r.id: r.version for r in self.rules}
        by_kind: dict[str, list[_Compiled]] = {}
        for rule in rules:
            compiled = _compile(rule)
            for kind in rule.kinds:
                by_kind.setdefault(kind, []).append(compiled)
        self._by_kind = by_kind
        self.rules = rules
        self._states = {k: s for k, s in self._states.items() if old.get(k[0]) == versions.get(k[0])}

    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        out = Evaluation()
        for reading in readings:
            for c in self._by_kind.get(reading.device.kind, ()):
                if c.rule.devices is not None and reading.device.id not in c.rule.devices:
                    continue
                key = (c.rule.id, reading.device.id)
                state = out.staged.get(key) or self._states.get(key)
                new_state, transition = _step(c, state, reading)
                out.staged[key] = new_state
                if transition is not None:
                    out.transitions.append(transition)
        return out

    def commit(self, evaluation: Evaluation) -> None:
        self._states.update(evaluation.staged)


def _step(c: _Compiled, state: ThresholdState | None, r: Reading) -> tuple[ThresholdState, Transition | None]:
    if state is None:
        state = ThresholdState(last_ts=r.ts)
    elif r.ts < state.last_ts:
        return state, None
    state = replace(state, last_ts=r.ts)
    rule = c.rule
    if not state.active:
        if not c.when(r.values):
            return replace(state, cond_since=None, first_values=None), None
        since = state.cond_since or r.ts
        first = state.first_values or _pick(r.values, c.metrics)
        if (r.ts - since).total_seconds() < rule.hold:
            return replace(state, cond_since=since, first_values=first), None
        explanation = {
            "rule_id": rule.id,
            "rule_version": rule.version,
            "condition": rule.when,
            "hold_s": rule.hold,
            "condition_started_at": since.isoformat(),
            "hold_crossed_at": r.ts.isoformat(),
            "readings": [
                {"ts": since.isoformat(), "values": dict(first)},
                {"ts": r.ts.isoformat(), "values": _pick(r.values, c.metrics)},
            ],
        }
        opened = AlertOpened(rule, r.device, r.device.id, since, r.ts, explanation)
        return ThresholdState(last_ts=r.ts, active=True), opened
    if not c.clear(r.values):
        return replace(state, clear_since=None), None
    clear_since = state.clear_since or r.ts
    if (r.ts - clear_since).total_seconds() < rule.clear_for:
        return replace(state, clear_since=clear_since), None
    condition = rule.clear_when or f"not ({rule.when})"
    reason = f"{condition} held from {clear_since.isoformat()} for at least {rule.clear_for:g}s"
    return ThresholdState(last_ts=r.ts), AlertCleared(rule, r.device.id, r.ts, reason)


def _pick(values: Mapping[str, Any], metrics: tuple[str, ...]) -> dict[str, Any]:
    return {m: values.get(m) for m in metrics}
