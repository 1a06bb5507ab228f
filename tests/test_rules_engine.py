"""The pure evaluator and the rule loader: no broker, no database, time from the readings."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.domain.alerts import AlertCleared, AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.readings import Reading
from hub.engine import loader
from hub.engine.evaluator import Engine
from hub.engine.expr import ExprError, compile_expr
from hub.engine.schema import ThresholdRule

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
SD = DeviceRef("sd1", DeviceKind.SMOKE_DETECTOR, "oak", "b1", "g1")
ROOT = Path(__file__).resolve().parents[1]


def rule(**over: object) -> ThresholdRule:
    body: dict[str, object] = {
        "id": "smoke-high",
        "type": "threshold",
        "title": "Smoke",
        "kinds": ["smoke_detector"],
        "severity": "critical",
        "category": "fire",
        "when": "smoke_obscuration_pct_per_m > 3",
        "for": "10s",
        "clear_when": "smoke_obscuration_pct_per_m < 1",
        "clear_for": "30s",
        "dispatch": {"team": "fire-safety"},
    }
    body.update(over)
    return ThresholdRule.model_validate(body)


def feed(engine: Engine, points: Sequence[tuple[float, float]]) -> list[object]:
    out: list[object] = []
    for seconds, smoke in points:
        ev = engine.evaluate(
            [Reading(SD, T0 + timedelta(seconds=seconds), {"smoke_obscuration_pct_per_m": smoke})]
        )
        engine.commit(ev)
        out += ev.transitions
    return out


def test_fires_only_after_the_condition_held_for_its_duration() -> None:
    engine = Engine([rule()])
    assert feed(engine, [(0, 4), (5, 4)]) == []
    opened = feed(engine, [(10, 4)])
    assert len(opened) == 1
    assert isinstance(opened[0], AlertOpened)
    expl = opened[0].explanation
    assert expl["condition_started_at"] == T0.isoformat()
    assert expl["hold_crossed_at"] == (T0 + timedelta(seconds=10)).isoformat()
    assert expl["readings"][0]["values"] == {"smoke_obscuration_pct_per_m": 4}


def test_does_not_fire_when_the_condition_breaks_before_the_duration() -> None:
    engine = Engine([rule()])
    assert feed(engine, [(0, 4), (5, 2), (9, 4), (15, 4)]) == []


def test_flapping_readings_make_one_alert_thanks_to_hysteresis() -> None:
    engine = Engine([rule(**{"for": "0s"})])
    points = [(i, 4.0 if i % 2 else 2.0) for i in range(0, 120)]
    transitions = feed(engine, points)
    assert [type(t).__name__ for t in transitions] == ["AlertOpened"]


def test_clears_only_after_the_clear_condition_held() -> None:
    engine = Engine([rule(**{"for": "0s"})])
    assert len(feed(engine, [(0, 5)])) == 1
    assert feed(engine, [(10, 0.5), (30, 0.5)]) == []
    cleared = feed(engine, [(40, 0.5)])
    assert len(cleared) == 1
    assert isinstance(cleared[0], AlertCleared)
    assert "held from" in cleared[0].reason


def test_late_reading_does_not_move_state() -> None:
    engine = Engine([rule(**{"for": "0s"})])
    feed(engine, [(100, 0.2)])
    assert feed(engine, [(50, 9.0)]) == []


def test_uncommitted_evaluation_is_not_remembered() -> None:
    engine = Engine([rule(**{"for": "0s"})])
    first = engine.evaluate([Reading(SD, T0, {"smoke_obscuration_pct_per_m": 5})])
    again = engine.evaluate([Reading(SD, T0, {"smoke_obscuration_pct_per_m": 5})])
    assert len(first.transitions) == 1
    assert len(again.transitions) == 1


def test_expression_language_refuses_anything_but_its_whitelist() -> None:
    names = frozenset({"a", "b"})
    assert compile_expr("a > 1 and not b", names)({"a": 2, "b": False}) is True
    assert compile_expr("abs(a - 10) <= 1", names)({"a": 9.5})
    for bad in (
        "__import__('os')",
        "a.__class__",
        "[x for x in a]",
        "a if b else 1",
        "lambda: 1",
        "c > 1",
        "'" + "x" * 200 + "' == a",
        "a ** 2 > 1",
    ):
        with pytest.raises(ExprError):
            compile_expr(bad, names)


def test_default_pack_loads() -> None:
    rules = loader.load(ROOT / "rules")
    assert {r.id for r in rules} >= {"smoke-alarm"}


def test_bad_rule_file_names_file_rule_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "rules:\n"
        "  - id: ok-rule\n    type: threshold\n    title: t\n    kinds: [manhole]\n    severity: major\n"
        "    category: flood\n    when: water_level_cm > 80\n    dispatch: {team: drainage}\n"
        "  - id: broken\n    type: threshold\n    title: t\n    kinds: [manhole]\n    severity: loud\n"
        "    category: flood\n    when: water_level_cm > 1\n    dispatch: {team: drainage}\n"
        "  - id: typo\n    type: threshold\n    title: t\n    kinds: [manhole]\n    severity: major\n"
        "    category: flood\n    when: smoke_obscuration_pct_per_m > 1\n    dispatch: {team: drainage}\n"
    )
    with pytest.raises(loader.RulesRejected) as exc:
        loader.load(tmp_path)
    text = str(exc.value)
    assert f"{f}: rule broken: severity:" in text
    assert f"{f}: rule typo: when: unknown name 'smoke_obscuration_pct_per_m'" in text
    assert "ok-rule" not in text
