"""The pure rule evaluator: readings in, alert transitions out, time taken from the readings.

Durations and windows run on device time, so a replay of stored data gives the same alerts as the
live stream (that is how backtests work and how state is rebuilt after a restart). Policy for late
data: a reading older than the last one evaluated for the same rule and device is stored but does not
move that rule's state.

Evaluation is staged: `evaluate` and `tick` return new states without keeping them; the caller keeps
them with `commit` once the batch's transaction is committed, so a failed write can be retried without
counting a reading twice.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.domain.alerts import AlertCleared, AlertOpened, Transition
from hub.domain.devices import DeviceRef
from hub.domain.readings import Reading
from hub.engine import kinds
from hub.engine.kinds import State
from hub.engine.schema import AbsenceRule, CorrelationRule, Rule, ThresholdRule

__all__ = ["AlertCleared", "AlertOpened", "Engine", "Evaluation", "Reading", "Transition"]

StateKey = tuple[str, str]
Plan = tuple[kinds.Batch, str, dict[str, State], Any]


@dataclass
class Evaluation:
    transitions: list[Transition] = field(default_factory=list)
    staged: dict[str, dict[str, State]] = field(default_factory=dict)
    """Rule id → subject → new state, like the engine's committed states: staging a reading's state
    needs no (rule, subject) tuple."""


DATA_GAP_S = 300.0
"""Default for `Engine(data_gap_s=...)`: readings further apart than this break a clear hold (the hub
passes HUB_NO_DATA_AFTER_S, whose default is the same)."""


class Engine:
    def __init__(self, rules: Iterable[Rule], data_gap_s: float | None = DATA_GAP_S) -> None:
        self._data_gap_s = data_gap_s
        self._states: dict[str, dict[str, State]] = {}
        """Rule id → subject → committed state: absence ticks walk one rule's subjects, not all."""
        self._correlations: dict[str, list[CorrelationRule]] = {}
        self._absence: list[kinds.Compiled] = []
        self._plans: dict[str, list[Plan]] = {}
        """Per device kind, what `evaluate` needs of each rule, looked up once per rule set: its batch
        step, id, committed states and device filter."""
        self.rules: list[Rule] = []
        self.replace_rules(rules)

    def replace_rules(self, rules: Iterable[Rule]) -> None:
        """Swap the rule set; state is kept for rules whose content did not change."""
        rules = list(rules)
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
        self._correlations, self._absence, self.rules = correlations, absence, rules
        self._states = {
            r.id: self._states[r.id] if old.get(r.id) == r.version and r.id in self._states else {}
            for r in rules
        }
        self._plans = {
            kind: [(c.batch, c.rule.id, self._states[c.rule.id], c.rule.devices) for c in compiled]
            for kind, compiled in by_kind.items()
        }

    def seed_absence(
        self, devices: Iterable[DeviceRef], last_seen: Mapping[str, datetime], now: datetime
    ) -> None:
        """Start absence clocks for devices not heard from since start-up: from their last message,
        or from now for a device never heard from."""
        for c in self._absence:
            for d in devices:
                if d.kind in c.rule.kinds and (c.rule.devices is None or d.id in c.rule.devices):
                    self._states[c.rule.id].setdefault(
                        d.id, kinds.AbsenceState(last_ts=last_seen.get(d.id, now), device=d)
                    )

    def listening(self, communities: Callable[[str], bool], since: datetime | None) -> None:
        """The hub hears the devices of these communities again from `since` (hub time), or, with
        None, cannot hear them now (not subscribed yet, the broker gone): silence while the hub is deaf
        is not the devices' silence, so absence rules wait while it lasts and count from its end. An
        absence alert already open stays open until the device is heard."""
        for c in self._absence:
            states = self._states[c.rule.id]
            for subject, state in states.items():
                if (
                    isinstance(state, kinds.AbsenceState)
                    and not state.active
                    and communities(state.device.community)
                ):
                    states[subject] = kinds.AbsenceState(
                        state.last_ts, state.device, False, kinds.DEAF if since is None else since
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
            self._states[rule_id][subject] = state

    def evaluate(self, readings: Iterable[Reading]) -> Evaluation:
        """Each rule runs over all of a batch's readings of its kinds at once (a call per rule and
        batch, not per rule and reading); the transitions are then taken in the order of the readings
        that caused them, and of the rules for one reading, as if the readings had come one by one:
        correlations see them in that order. No rule reads another's state, so this is the same."""
        out = Evaluation()
        staged = out.staged = {rule_id: {} for rule_id in self._states}
        by_kind: dict[str, tuple[list[Reading], list[int]]] = {}
        for index, reading in enumerate(readings):
            kind = reading.device.kind
            group = by_kind.get(kind)
            if group is None:
                group = by_kind[kind] = ([], [])
            group[0].append(reading)
            group[1].append(index)
        found: list[tuple[int, int, str, Transition, DeviceRef]] = []
        for kind_name, (of_kind, indexes) in by_kind.items():
            for order, (batch, rule_id, committed, devices) in enumerate(self._plans.get(kind_name, ())):
                for pos, transition in batch(of_kind, staged[rule_id], committed, devices):
                    found.append((indexes[pos], order, rule_id, transition, of_kind[pos].device))
        found.sort(key=_reading_then_rule)
        for _, _, rule_id, transition, device in found:
            self._transition(out, (rule_id, device.id), transition, device)
        return out

    def tick(self, now: datetime) -> Evaluation:
        """Time passing without messages: absence rules. Only states that changed are staged."""
        out = Evaluation()
        for c in self._absence:
            for subject, old in self._states[c.rule.id].items():
                state, transition = c.tick(old, now)
                if state is not old:
                    out.staged.setdefault(c.rule.id, {})[subject] = state
                if transition is not None:
                    self._transition(out, (c.rule.id, subject), transition, getattr(old, "device", None))
        return out

    def commit(self, evaluation: Evaluation) -> None:
        for rule_id, states in evaluation.staged.items():
            if states:
                self._states[rule_id].update(states)

    def forget(self, subjects: Callable[[str], bool]) -> None:
        """Drop the state of matching subjects (devices or groups), as if never seen: for a worker
        handing their partition to another, or about to rebuild it from the database."""
        for states in self._states.values():
            for subject in [s for s in states if subjects(s)]:
                del states[subject]

    @property
    def state_count(self) -> int:
        return sum(len(s) for s in self._states.values())

    def tick_resolution(self) -> timedelta | None:
        """How finely a replay must let time pass for absence rules to fire when the live hub would."""
        periods = [c.rule.period for c in self._absence if isinstance(c.rule, AbsenceRule)]
        return timedelta(seconds=max(1.0, min(periods) / 20)) if periods else None

    def _get(self, out: Evaluation, key: StateKey) -> Any:
        staged = out.staged.get(key[0])
        return (staged is not None and staged.get(key[1])) or self._states[key[0]].get(key[1])

    def _transition(self, out: Evaluation, key: StateKey, t: Transition, device: DeviceRef | None) -> None:
        out.transitions.append(t)
        for corr in self._correlations.get(key[0], ()):
            self._correlate(out, corr, t, device)

    def _correlate(
        self, out: Evaluation, corr: CorrelationRule, t: Transition, device: DeviceRef | None
    ) -> None:
        if isinstance(t, AlertOpened):
            group = kinds.group_subject(corr, t.device)
        else:
            group_of_device = kinds.group_subject(corr, device) if device is not None else None
            found = self._group_of(out, corr, t.subject, group_of_device)
            if found is None:
                return
            group = found
        key = (corr.id, group)
        state, result = kinds.correlate(corr, self._get(out, key), group, t)
        out.staged.setdefault(corr.id, {})[group] = state
        if isinstance(result, AlertOpened) and result.absorbed_into is not None:
            out.transitions[out.transitions.index(t)] = result
        elif result is not None:
            out.transitions.append(result)

    def _group_of(
        self, out: Evaluation, corr: CorrelationRule, member: str, likely: str | None
    ) -> str | None:
        """The group whose alert counts `member`: where the device is now, unless it moved while its
        alert was open, in which case every group of the rule is searched."""

        def holds(group: str) -> bool:
            s = self._get(out, (corr.id, group))
            return isinstance(s, kinds.GroupState) and member in s.members

        if likely is not None and holds(likely):
            return likely
        groups = set(self._states[corr.id]) | set(out.staged.get(corr.id, ()))
        return next((g for g in sorted(groups) if holds(g)), None)


def _reading_then_rule(found: tuple[int, int, str, Transition, DeviceRef]) -> tuple[int, int]:
    return found[0], found[1]
