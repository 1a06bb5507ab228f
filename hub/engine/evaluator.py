"""The pure rule evaluator: readings in, alert transitions out, time taken from the readings.

Durations and windows run on device time, so a replay of stored data gives the same alerts as the
live stream (that is how backtests work and how state is rebuilt after a restart). Policy for late
data: a reading older than the last one evaluated for the same rule and device is stored but does not
move that rule's state.

Evaluation is staged: `evaluate` and `tick` return new states without keeping them; the caller keeps
them with `commit` once the batch's transaction is committed, so a failed write can be retried without
counting a reading twice.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.domain.devices import DeviceRef
from hub.engine import kinds
from hub.engine.kinds import AlertCleared, AlertOpened, Reading, State, Transition
from hub.engine.schema import AbsenceRule, CorrelationRule, Rule, ThresholdRule

__all__ = ["AlertCleared", "AlertOpened", "Engine", "Evaluation", "Reading", "Transition"]

StateKey = tuple[str, str]


@dataclass
class Evaluation:
    transitions: list[Transition] = field(default_factory=list)
    staged: dict[StateKey, State] = field(default_factory=dict)


DATA_GAP_S = 300.0
"""Default for `Engine(data_gap_s=...)`: readings further apart than this break a clear hold (the hub
passes HUB_NO_DATA_AFTER_S, whose default is the same)."""


class Engine:
    def __init__(self, rules: Iterable[Rule], data_gap_s: float | None = DATA_GAP_S) -> None:
        self._data_gap_s = data_gap_s
        self._states: dict[StateKey, State] = {}
        self._by_kind: dict[str, list[kinds.Compiled]] = {}
        self._correlations: dict[str, list[CorrelationRule]] = {}
        self._absence: list[kinds.Compiled] = []
        self.rules: list[Rule] = []
        self.replace_rules(rules)

    def replace_rules(self, rules: Iterable[Rule]) -> None:
        """Swap the rule set; state is kept for rules whose content did not change."""
        rules = list(rules)
        versions = {r.id: r.version for r in rules}
        old = {r.id: r.version for r in self.rules}
        by_kind: dict[str, list[kinds.Compiled]] = {}
        correlations: dict[str, list[CorrelationRule]] = {}
        absence = []
        for rule in rules:
            if isinstance(rule, CorrelationRule):
                for base in rule.of:
                    correlations.setdefault(base, []).append(rule)
                continue
            compiled = kinds.compile_rule(rule, self._data_gap_s)
            if isinstance(rule, AbsenceRule):
                absence.append(compiled)
            for kind in rule.kinds:
                by_kind.setdefault(kind, []).append(compiled)
        self._by_kind, self._correlations, self._absence, self.rules = by_kind, correlations, absence, rules
        self._states = {k: s for k, s in self._states.items() if old.get(k[0]) == versions.get(k[0])}

    def seed_absence(
        self, devices: Iterable[DeviceRef], last_seen: Mapping[str, datetime], now: datetime
    ) -> None:
        """Start absence clocks for devices not heard from since start-up: from their last message,
        or from now for a device never heard from."""
        for c in self._absence:
            for d in devices:
                if d.kind in c.rule.kinds and (c.rule.devices is None or d.id in c.rule.devices):
                    self._states.setdefault(
                        (c.rule.id, d.id), kinds.AbsenceState(last_ts=last_seen.get(d.id, now), device=d)
                    )

    def seed_open(
        self, open_alerts: Iterable[tuple[str, str, DeviceRef | None, datetime, list[str]]]
    ) -> None:
        """Mark alerts the database holds open as active, so a restarted engine clears them rather than
        opening them again. Each entry: rule id, subject, device, opened at, group members."""
        rules = {r.id: r for r in self.rules}
        for rule_id, subject, device, opened_at, members in open_alerts:
            rule = rules.get(rule_id)
            if rule is None:
                continue
            state: State
            if isinstance(rule, CorrelationRule):
                state = kinds.GroupState(dict.fromkeys(members, (rule.of[0], opened_at)), active=True)
            elif isinstance(rule, AbsenceRule):
                if device is None:
                    continue
                state = kinds.AbsenceState(last_ts=opened_at, device=device, active=True)
            elif isinstance(rule, ThresholdRule):
                state = kinds.ThresholdState(last_ts=opened_at, active=True)
            else:
                state = kinds.WindowState(last_ts=opened_at, active=True)
            self._states[(rule_id, subject)] = state

    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        out = Evaluation()
        for reading in readings:
            for c in self._by_kind.get(reading.device.kind, ()):
                if c.rule.devices is not None and reading.device.id not in c.rule.devices:
                    continue
                key = (c.rule.id, reading.device.id)
                self._record(out, key, *c.step(self._get(out, key), reading))
        return out

    def tick(self, now: datetime) -> Evaluation:
        """Time passing without messages: absence rules."""
        out = Evaluation()
        for c in self._absence:
            for key in [k for k in self._states if k[0] == c.rule.id]:
                self._record(out, key, *c.tick(self._get(out, key), now))
        return out

    def commit(self, evaluation: Evaluation) -> None:
        self._states.update(evaluation.staged)

    @property
    def state_count(self) -> int:
        return len(self._states)

    def tick_resolution(self) -> timedelta | None:
        """How finely a replay must let time pass for absence rules to fire when the live hub would."""
        periods = [c.rule.period for c in self._absence if isinstance(c.rule, AbsenceRule)]
        return timedelta(seconds=max(1.0, min(periods) / 20)) if periods else None

    def _get(self, out: Evaluation, key: StateKey) -> Any:
        return out.staged.get(key) or self._states.get(key)

    def _record(self, out: Evaluation, key: StateKey, state: State, transition: Transition | None) -> None:
        out.staged[key] = state
        if transition is None:
            return
        out.transitions.append(transition)
        for corr in self._correlations.get(key[0], ()):
            self._correlate(out, corr, transition)

    def _correlate(self, out: Evaluation, corr: CorrelationRule, t: Transition) -> None:
        if isinstance(t, AlertOpened):
            group = kinds.group_subject(corr, t.device)
        else:
            found = next(
                (
                    k
                    for k, s in {**self._states, **out.staged}.items()
                    if k[0] == corr.id and isinstance(s, kinds.GroupState) and t.subject in s.members
                ),
                None,
            )
            if found is None:
                return
            group = found[1]
        key = (corr.id, group)
        state, result = kinds.correlate(corr, self._get(out, key), group, t)
        out.staged[key] = state
        if isinstance(result, AlertOpened) and result.absorbed_into is not None:
            out.transitions[out.transitions.index(t)] = result
        elif result is not None:
            out.transitions.append(result)
