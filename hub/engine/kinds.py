"""One step function per rule kind: (state, reading) → (new state, transition or None). Pure.

A step returns a new state for almost every reading of every rule of its kind, so the per-device
states are named tuples: immutable like frozen dataclasses (the engine stages them and keeps them only
once the batch is committed), at a third of a frozen dataclass's construction cost.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from hub.domain.alerts import AlertCleared, AlertOpened, Transition
from hub.domain.devices import DeviceRef
from hub.domain.readings import Reading
from hub.engine.expr import compile_expr, referenced_names
from hub.engine.schema import (
    AbsenceRule,
    CorrelationRule,
    CountRule,
    RateRule,
    Rule,
    ThresholdRule,
    names_for,
)


class ThresholdState(NamedTuple):
    last_ts: datetime
    active: bool = False
    cond_since: datetime | None = None
    clear_since: datetime | None = None
    first_values: Mapping[str, Any] | None = None


DEAF = datetime.max.replace(tzinfo=UTC)
"""`listening_since` while the hub cannot hear the device: no silence is counted."""


class AbsenceState(NamedTuple):
    last_ts: datetime
    device: DeviceRef
    active: bool = False
    listening_since: datetime | None = None
    """hub time since when the hub could hear the device again (after its own start, a take-over, a
    broker reconnect or a database outage): silence is counted from the later of this and `last_ts`"""


class WindowState(NamedTuple):
    """Recent (time, value) points for count and rate rules; bounded by the rule's window."""

    last_ts: datetime
    points: tuple[tuple[datetime, float], ...] = ()
    active: bool = False


@dataclass(frozen=True, slots=True)
class GroupState:
    members: Mapping[str, tuple[str, datetime]]
    active: bool = False


State = ThresholdState | AbsenceState | WindowState | GroupState | datetime
"""A bare datetime is a threshold rule's quiet state (condition false, nothing pending): the device
time of the last reading. Most readings leave most threshold rules quiet, and keeping their time as it
came costs no object per rule and reading."""

_new = tuple.__new__
"""A named tuple made from all its fields without its Python-level `__new__`: for the states built on
almost every reading (an absence rule hearing its device, every reading of a count or rate rule)."""


Step = Callable[[Any, Reading], tuple[State, Transition | None]]
Batch = Callable[
    [Sequence[Reading], dict[str, Any], Mapping[str, Any], Collection[str] | None],
    list[tuple[int, Transition]],
]
"""A rule over a batch's readings of its device kinds, in device-time order: stages each device's new
state in the first dict (over the committed ones in the second), skips devices outside the rule's
device filter, and returns the transitions with the position of the reading that caused each."""


@dataclass(frozen=True)
class Compiled:
    rule: Rule
    step: Step
    tick: Callable[[Any, datetime], tuple[State, Transition | None]]
    batch: Batch
    """`step` over a batch's readings (`_each`), the kind's commonest case tried first where it has one"""


def _each(step: Step, quiet: Callable[[Any, Reading], Any] | None = None) -> Batch:
    """`step` over a batch's readings in turn. `quiet(state, reading)`: a rule kind's commonest case
    tried first, without the step: the new state when it applies, else None."""

    def batch(
        readings: Sequence[Reading],
        new: dict[str, Any],
        committed: Mapping[str, Any],
        devices: Collection[str] | None,
    ) -> list[tuple[int, Transition]]:
        found = []
        for pos, r in enumerate(readings):
            device_id = r.device.id
            if devices is not None and device_id not in devices:
                continue
            state = new.get(device_id) or committed.get(device_id)
            if quiet is not None and (kept := quiet(state, r)) is not None:
                new[device_id] = kept
                continue
            state, transition = step(state, r)
            new[device_id] = state
            if transition is not None:
                found.append((pos, transition))
        return found

    return batch


def _no_tick(state: Any, _now: datetime) -> tuple[State, None]:
    return state, None


def _opens(rule: Rule, at: datetime) -> bool:
    return rule.active is None or rule.active.contains(at)


def _explain(
    rule: Rule, started: datetime, crossed: datetime, readings: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "rule_version": rule.version,
        "rule_type": rule.type,
        "condition_started_at": started.isoformat(),
        "hold_crossed_at": crossed.isoformat(),
        "readings": readings,
        **extra,
    }


def compile_rule(rule: Rule, data_gap_s: float | None = None) -> Compiled:
    """`data_gap_s`: readings further apart than this are not continuous, so a clear hold (`clear_for`)
    starts again after such a gap — silence is not recovery. None: no limit."""
    if isinstance(rule, ThresholdRule):
        return _threshold(rule, data_gap_s)
    if isinstance(rule, AbsenceRule):
        return _absence(rule)
    if isinstance(rule, CountRule):
        return _count(rule)
    if isinstance(rule, RateRule):
        return _rate(rule)
    raise TypeError(f"{rule.type} rules are evaluated by the engine, not compiled")


def _threshold(rule: ThresholdRule, data_gap_s: float | None = None) -> Compiled:
    names = names_for(rule.kinds, rule.source)
    when = compile_expr(rule.when, names)
    clear = compile_expr(rule.clear_when, names) if rule.clear_when else (lambda v: not when(v))
    used = referenced_names(rule.when) | (referenced_names(rule.clear_when) if rule.clear_when else set())
    metrics = tuple(sorted(used & names))
    # Telemetry fields the clear condition reads; a reading without one of them (an optional field left
    # out) says nothing about recovery, although `not (when)` over a missing value would be true.
    clear_metrics = tuple(
        sorted(
            (referenced_names(rule.clear_when) if rule.clear_when else referenced_names(rule.when)) & names
        )
    )
    source = rule.source
    needs_values = source == "telemetry"

    def pick(values: Mapping[str, Any]) -> dict[str, Any]:
        return {m: values.get(m) for m in metrics}

    def step(state: ThresholdState | datetime | None, r: Reading) -> tuple[State, Transition | None]:
        if r.source != source:
            return (r.ts if state is None else state), None
        if state is None:
            state = ThresholdState(last_ts=r.ts)
        elif isinstance(state, datetime):
            if r.ts < state:
                return state, None
            state = ThresholdState(last_ts=state)
        elif r.ts < state.last_ts:
            return state, None
        if not state.active:
            if not (when(r.values) and _opens(rule, r.ts)):
                return r.ts, None
            since = state.cond_since or r.ts
            first = state.first_values or pick(r.values)
            if (r.ts - since).total_seconds() < rule.hold:
                return ThresholdState(r.ts, cond_since=since, first_values=first), None
            expl = _explain(
                rule,
                since,
                r.ts,
                [
                    {"ts": since.isoformat(), "values": dict(first)},
                    {"ts": r.ts.isoformat(), "values": pick(r.values)},
                ],
                condition=rule.when,
                hold_s=rule.hold,
            )
            return ThresholdState(last_ts=r.ts, active=True), AlertOpened(
                rule, r.device, r.device.id, since, r.ts, expl
            )
        if (needs_values and any(r.values.get(m) is None for m in clear_metrics)) or not clear(r.values):
            return ThresholdState(r.ts, active=True), None
        after_gap = data_gap_s is not None and (r.ts - state.last_ts).total_seconds() > data_gap_s
        clear_since = r.ts if after_gap or state.clear_since is None else state.clear_since
        if (r.ts - clear_since).total_seconds() < rule.clear_for:
            return ThresholdState(r.ts, active=True, clear_since=clear_since), None
        condition = rule.clear_when or f"not ({rule.when})"
        reason = f"{condition} held from {clear_since.isoformat()} for at least {rule.clear_for:g}s"
        facts = {
            "code": "condition_held",
            "condition": condition,
            "since": clear_since.isoformat(),
            "for_s": rule.clear_for,
            "values": pick(r.values),
        }
        return r.ts, AlertCleared(rule, r.device.id, r.ts, reason, facts)

    def stays_quiet(state: Any, r: Reading) -> datetime | None:
        """A quiet rule (its state the last reading's time) whose condition is still false."""
        if state.__class__ is datetime and r.source == source and r.ts >= state and not when(r.values):
            return r.ts
        return None

    return Compiled(rule, step, _no_tick, _each(step, stays_quiet))


def _absence(rule: AbsenceRule) -> Compiled:
    where = (
        compile_expr(rule.where, names_for(rule.kinds, rule.source))
        if rule.where and rule.source != "any"
        else None
    )
    period = timedelta(seconds=rule.period)

    def step(state: AbsenceState | None, r: Reading) -> tuple[State, Transition | None]:
        matches = (rule.source in ("any", r.source)) and (where is None or where(r.values))
        if state is None:
            return AbsenceState(last_ts=r.ts, device=r.device), None
        if not matches or r.ts < state.last_ts:
            return state, None
        if state.active:
            silence_s = (r.ts - state.last_ts).total_seconds()
            reason = f"message received at {r.ts.isoformat()} after {silence_s:g}s of silence"
            facts = {"code": "heard_again", "at": r.ts.isoformat(), "silence_s": silence_s}
            cleared = AlertCleared(rule, r.device.id, r.ts, reason, facts)
            return AbsenceState(r.ts, r.device, False, state.listening_since), cleared
        return AbsenceState(r.ts, r.device, False, state.listening_since), None

    any_source, source = rule.source == "any", rule.source

    def heard_again(state: Any, r: Reading) -> AbsenceState | None:
        """A device heard again whose rule is not alerting: only its time moves."""
        if (
            state is not None
            and not state.active
            and r.ts >= state.last_ts
            and (any_source or r.source == source)
            and (where is None or where(r.values))
        ):
            return _new(AbsenceState, (r.ts, r.device, False, state.listening_since))
        return None

    def tick(state: AbsenceState, now: datetime) -> tuple[State, Transition | None]:
        since = state.last_ts
        if state.listening_since is not None and state.listening_since > since:
            since = state.listening_since
        if state.active or now - since < period or not _opens(rule, now):
            return state, None
        expl = _explain(
            rule, state.last_ts, now, [], last_message_at=state.last_ts.isoformat(), period_s=rule.period
        )
        return state._replace(active=True), AlertOpened(
            rule, state.device, state.device.id, state.last_ts, now, expl
        )

    return Compiled(rule, step, tick, _each(step, heard_again))


def _windowed(
    rule: CountRule | RateRule,
    value_of: Callable[[Reading], float | None],
    judge: Callable[[WindowState], tuple[bool, bool]],
    facts: Callable[[WindowState], dict[str, Any]],
) -> Compiled:
    """Shared by count and rate rules: keep the points inside the window, then ask `judge` whether
    the alert should open or clear. `facts` explain an opening or clearing; most readings do neither,
    so they are built only then."""
    window = timedelta(seconds=rule.window)

    def step(state: WindowState | None, r: Reading) -> tuple[State, Transition | None]:
        if state is None:
            state = WindowState(last_ts=r.ts)
        elif r.ts < state.last_ts:
            return state, None
        value = value_of(r)
        points = tuple(p for p in state.points if r.ts - p[0] <= window) if state.points else ()
        if value is not None:
            points = (*points, (r.ts, value))
        state = _new(WindowState, (r.ts, points, state.active))
        opens, clears = judge(state)
        if not state.active and opens and _opens(rule, r.ts):
            started = points[0][0] if points else r.ts
            readings = [{"ts": t.isoformat(), "value": v} for t, v in points[-20:]]
            expl = _explain(rule, started, r.ts, readings, window_s=rule.window, **facts(state))
            return state._replace(active=True), AlertOpened(rule, r.device, r.device.id, started, r.ts, expl)
        if state.active and clears and (value is not None or isinstance(rule, CountRule)):
            # a rate alert clears on a reading of its metric, not because old points left the window
            told = facts(state)
            reason = f"{told['summary']} within {rule.window:g}s at {r.ts.isoformat()}"
            why = {"code": "window_calm", "window_s": rule.window, **told}
            return state._replace(active=False), AlertCleared(rule, r.device.id, r.ts, reason, why)
        return state, None

    return Compiled(rule, step, _no_tick, _each(step))


def _count(rule: CountRule) -> Compiled:
    where = compile_expr(rule.where, names_for(rule.kinds, rule.source))

    def value_of(r: Reading) -> float | None:
        return 1.0 if r.source == rule.source and where(r.values) else None

    def judge(state: WindowState) -> tuple[bool, bool]:
        n = len(state.points)
        return n >= rule.threshold, n < rule.threshold

    def facts(state: WindowState) -> dict[str, Any]:
        n = len(state.points)
        return {"count": n, "threshold": rule.threshold, "summary": f"{n} matching message(s)"}

    return _windowed(rule, value_of, judge, facts)


def _rate(rule: RateRule) -> Compiled:
    clear_change = rule.clear_change if rule.clear_change is not None else rule.change / 2
    rising = rule.change > 0

    def value_of(r: Reading) -> float | None:
        v = r.values.get(rule.metric) if r.source == "telemetry" else None
        return float(v) if isinstance(v, int | float) else None

    def change(state: WindowState) -> float:
        values = [v for _, v in state.points]
        last = values[-1]
        return last - min(values) if rising else last - max(values)

    def judge(state: WindowState) -> tuple[bool, bool]:
        if not state.points:
            return False, False
        c = change(state)
        if rising:
            return c > rule.change, c < clear_change
        return c < rule.change, c > clear_change

    def facts(state: WindowState) -> dict[str, Any]:
        if not state.points:
            return {"change": 0.0, "summary": "no readings"}
        c = change(state)
        return {
            "metric": rule.metric,
            "change": round(c, 6),
            "limit": rule.change,
            "summary": f"{rule.metric} changed by {c:g}",
        }

    return _windowed(rule, value_of, judge, facts)


def group_subject(rule: CorrelationRule, device: DeviceRef) -> str:
    place = {
        "building": f"{device.community}/{device.building}",
        "grid": f"{device.community}/{device.grid}",
        "community": device.community,
    }[rule.group_by]
    return f"{rule.group_by}:{place}"


def correlate(
    rule: CorrelationRule, state: GroupState | None, group: str, t: Transition
) -> tuple[GroupState, Transition | None]:
    """Track member alerts of a group; open when enough distinct subjects alert within the window,
    clear when the last member clears. A member opening while the group alert is open comes back
    marked `absorbed_into` the group (its case is the group's)."""
    members = dict(state.members) if state else {}
    active = state.active if state else False
    if isinstance(t, AlertCleared):
        members.pop(t.subject, None)
        if active and not members:
            return GroupState({}, False), AlertCleared(
                rule, group, t.cleared_at, "every member alert cleared", {"code": "members_cleared"}
            )
        return GroupState(members, active), None
    window = timedelta(seconds=rule.within)
    members = {s: (rid, at) for s, (rid, at) in members.items() if active or t.opened_at - at <= window}
    members[t.subject] = (t.rule.id, t.opened_at)
    if active:
        return GroupState(members, True), replace(t, absorbed_into=(rule.id, group))
    if len(members) < rule.min_subjects or not _opens(rule, t.opened_at):
        return GroupState(members, False), None
    first = min(at for _, at in members.values())
    expl = _explain(
        rule,
        first,
        t.opened_at,
        [],
        members=sorted(members),
        group_by=rule.group_by,
        within_s=rule.within,
        of=rule.of,
    )
    opened = AlertOpened(
        rule,
        t.device,
        group,
        first,
        t.opened_at,
        expl,
        absorbs=tuple(sorted((rid, s) for s, (rid, _) in members.items())),
    )
    return GroupState(members, True), opened
