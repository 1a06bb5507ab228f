"""Property-based tests of the rule loader and the expression language.

The loader never raises, whatever text it is given: it returns errors naming file, rule and field. The
expression compiler raises only ExprError, accepts nothing but its whitelist, and never evaluates
Python; compiled conditions never raise on any reading (a reading that raises would stop ingest).
"""

import ast
import builtins
import os
import string
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.domain.devices import DeviceKind
from hub.engine.expr import ExprError, compile_expr
from hub.engine.loader import LoadError, load_text
from hub.engine.schema import names_for

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
NAME = "fuzz/rules.yaml"
SMOKE_NAMES = names_for([DeviceKind.SMOKE_DETECTOR], "telemetry")
ALL_NAMES = frozenset().union(*(names_for([k], s) for k in DeviceKind for s in ("telemetry", "event")))

BASE_RULES: dict[str, dict[str, Any]] = {
    "threshold": {
        "id": "fz-threshold",
        "type": "threshold",
        "title": "Heat",
        "kinds": ["smoke_detector"],
        "severity": "critical",
        "category": "fire",
        "when": "temperature_c >= 57",
        "for": "10s",
        "clear_when": "temperature_c < 45",
        "clear_for": "60s",
        "dispatch": {"team": "fire-safety", "ack_within": "2m", "resolve_within": "30m"},
        "active": {"hours": "19:00-05:00", "days": ["mon", "fri"], "timezone": "Asia/Shanghai"},
    },
    "absence": {
        "id": "fz-absence",
        "type": "absence",
        "title": "Silent",
        "kinds": ["access_gate"],
        "source": "telemetry",
        "where": "door_open == false",
        "period": "10m",
        "severity": "major",
        "category": "device_health",
        "dispatch": {"team": "property-security"},
    },
    "count": {
        "id": "fz-count",
        "type": "count",
        "title": "Denied",
        "kinds": ["access_gate"],
        "source": "event",
        "where": "event == 'access' and result == 'denied'",
        "threshold": 5,
        "window": "60s",
        "severity": "major",
        "category": "security",
        "dispatch": {"team": "property-security"},
    },
    "rate": {
        "id": "fz-rate",
        "type": "rate",
        "title": "Rising",
        "kinds": ["manhole"],
        "metric": "water_level_cm",
        "change": 20,
        "window": "10m",
        "severity": "major",
        "category": "flood",
        "dispatch": {"team": "drainage"},
    },
    "correlation": {
        "id": "fz-correlation",
        "type": "correlation",
        "title": "Building fire",
        "kinds": ["smoke_detector"],
        "of": ["smoke-alarm"],
        "group_by": "building",
        "min_subjects": 2,
        "within": "2m",
        "severity": "critical",
        "category": "fire",
        "dispatch": {"team": "fire-safety"},
    },
}
EXPRESSION_FIELDS = {"threshold": ["when", "clear_when"], "absence": ["where"], "count": ["where"]}


def checked(text: str) -> tuple[list[Any], list[LoadError]]:
    """The loader's contract: never raises; either rules or errors, each naming file, rule and field."""
    rules, errors = load_text(text, NAME)
    assert not (rules and errors)
    for e in errors:
        assert isinstance(e, LoadError)
        assert e.file == NAME
        assert e.rule and e.field and e.message.strip(), e
        assert str(e).startswith(f"{NAME}: rule {e.rule}: {e.field}: ")
    return rules, errors


def test_the_base_rules_load() -> None:
    rules, errors = checked(yaml.safe_dump({"rules": list(BASE_RULES.values())}))
    assert errors == [] and len(rules) == len(BASE_RULES)


# -- arbitrary text and YAML-shaped text ------------------------------------------------------------------

# fmt: off
yaml_tokens = st.sampled_from(
    [
        "rules:", "\n", "  ", "- ", ": ", "[", "]", "{", "}", ",", "&a ", "*a", "!!", "!!python/object:os.system ",
        "!!binary ", "!!timestamp ", "!!float ", "!!int ", "!!str ", "!!map ", "!!set ", "? ", "|", ">", "'", '"',
        "#", "---", "...", "%YAML 1.1", "2001-13-45", "2001-02-30", "2026-11-28T12:00:00+08:00", "0x1F", "0o17",
        "1_000", ".inf", ".nan", "~", "null", "yes", "on", "id: ", "type: threshold", "when: ", "kinds: ",
        "temperature_c", "__import__('os')", "\\u0000", "\t", "\x00", "\ud800",
    ]
)
# fmt: on
yamlish = st.lists(yaml_tokens | st.text(max_size=8), max_size=40).map("".join)


@FUZZ
@given(text=st.text(max_size=400) | yamlish)
@example(text="a: 2001-13-45")
@example(text="rules: [{id: x, when: 2001-02-30}]")
@example(text="x: !!float abc")
@example(text="x: !!int 0xZZ")
@example(text="x: !!timestamp 2001-13-01")
@example(text="[" * 5000)
@example(text="- " * 3000 + "a")
@example(text="{a: " * 3000)
@example(text="&a [*a, *a]")
@example(text="!!python/object/apply:os.system ['touch /tmp/pwned']")
@example(text="rules:\n  - \x00")
@example(text='rules: ["\\ud800"]')
def test_arbitrary_text_never_raises(text: str) -> None:
    checked(text)


# -- otherwise valid rules with one field replaced ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_rule(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    rule = dict(BASE_RULES[draw(st.sampled_from(sorted(BASE_RULES)))])
    field = draw(st.sampled_from([*rule, "unknown_field"]))
    if field == "id":
        return rule, field
    rule[field] = draw(
        json_values | st.text(max_size=60) | st.sampled_from(["10x", "-5s", "25:00-01:00", "Mars/Base"])
    )
    return rule, field


@FUZZ
@given(mutated=mutated_rule())
def test_a_rule_with_one_bad_field_names_that_rule_and_field(mutated: tuple[dict[str, Any], str]) -> None:
    rule, field = mutated
    _rules, errors = checked(yaml.safe_dump({"rules": [rule]}, allow_unicode=True))
    for e in errors:
        assert e.rule == rule["id"], e
    if field in ("type", "kinds"):  # a wrong discriminator or kind list changes which fields are checked
        return
    if errors:
        assert any(e.field.split(".")[0] in (field, rule["type"]) or field in e.field for e in errors), errors


# -- arbitrary expressions in otherwise valid rules -----------------------------------------------------

names = st.sampled_from(sorted(ALL_NAMES | {"true", "false", "abs", "min", "max", "x", "__class__", "os"}))
atoms = st.one_of(
    names,
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["'access'", "'denied'", '"x"', "1e308", "9" * 60, "0", "0.0", "None", "...", "b'x'", "1j"]
    ),
)


OPERATORS = [" + ", " - ", " * ", " / ", " ** ", " // ", " % ", " == ", " != ", " < ", " <= ",
             " > ", " >= ", " and ", " or ", " in ", " is ", " | ", " & ", " << "]  # fmt: skip


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(OPERATORS), children).map("".join)
    unary = st.tuples(st.sampled_from(["-", "not ", "+", "~"]), children).map("".join)
    call = st.tuples(
        st.sampled_from(["abs", "min", "max", "eval", "open", "__import__", "getattr", "print"]),
        st.lists(children, max_size=3),
    ).map(lambda t: f"{t[0]}({', '.join(t[1])})")
    other = st.one_of(
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"{c}.__class__"),
        children.map(lambda c: f"{c}[0]"),
        children.map(lambda c: f"lambda: {c}"),
        children.map(lambda c: f"[{c} for _ in ()]"),
        children.map(lambda c: f"(y := {c})"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
    )
    return binary | unary | call | other


expressions = st.recursive(atoms, combine, max_leaves=12)
garbage = st.text(alphabet=string.printable + "\x00\u00e9\u4e2d\ud800", max_size=120)


@FUZZ
@given(kind=st.sampled_from(sorted(EXPRESSION_FIELDS)), text=expressions | garbage, data=st.data())
def test_arbitrary_expressions_in_valid_rules_name_file_rule_and_field(
    kind: str, text: str, data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(EXPRESSION_FIELDS[kind]))
    rule = {**BASE_RULES[kind], field: text}
    rules, errors = checked(yaml.safe_dump({"rules": [rule]}, allow_unicode=True))
    if errors:
        assert {(e.rule, e.field) for e in errors} == {(rule["id"], field)}, errors
    else:
        assert rules[0].id == rule["id"]


# -- the compiler: only ExprError, only the whitelist, nothing evaluated ---------------------------------

SENTINEL_CALLS: list[object] = []


def _sentinel(*args: object, **kwargs: object) -> None:
    SENTINEL_CALLS.append((args, kwargs))


def _guard(real: Any) -> Any:
    """Python's evaluator, recording any call made from the hub's own code."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_code.co_filename
        if f"{os.sep}hub{os.sep}" in caller:
            _sentinel(real.__name__, *args)
        return real(*args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def no_python_evaluation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While a test runs, a sentinel builtin and Python's evaluators (called from hub code) record any
    use; none may happen."""
    SENTINEL_CALLS.clear()
    monkeypatch.setattr(builtins, "sentinel", _sentinel, raising=False)
    monkeypatch.setattr(builtins, "eval", _guard(builtins.eval))
    monkeypatch.setattr(builtins, "exec", _guard(builtins.exec))
    yield
    assert SENTINEL_CALLS == [], "Python was evaluated from a rule expression"


ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not,
    ast.USub, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BinOp, ast.Add, ast.Sub,
    ast.Mult, ast.Div, ast.Call,
)  # fmt: skip

values = st.dictionaries(
    st.sampled_from(sorted(SMOKE_NAMES)),
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.just(10**400),
)


@FUZZ
@given(text=expressions | garbage | st.text(max_size=600), reading=values)
@example(text="a\x00", reading={})
@example(text="'\ud800'", reading={})
@example(text="-" * 499 + "1", reading={})
@example(text="(" * 250 + "1" + ")" * 249, reading={})
@example(text="not " * 124 + "alarm", reading={})
@example(text="9" * 400 + " * 1.0 > temperature_c", reading={"temperature_c": 1.0})
@example(text="9" * 400 + " / 3 > 1", reading={})
@example(text="-battery_pct < -10", reading={})
@example(text="abs(temperature_c) > 5", reading={"temperature_c": "hot"})
@example(text="max(battery_pct, 'a') == 1", reading={"battery_pct": 3})
@example(text="temperature_c * 1.5 > 1", reading={"temperature_c": 10**400})
@example(text="sentinel()", reading={})
@example(text="__import__('os').system('sentinel')", reading={})
@example(text="().__class__.__bases__[0].__subclasses__()", reading={})
@example(text="alarm.__class__", reading={})
@example(text="abs.__self__.eval('1')", reading={})
@example(text="min(*[1, 2])", reading={})
@example(text="max(key=sentinel)", reading={})
@example(text="(lambda: sentinel())()", reading={})
@example(text="[sentinel() for _ in (1,)]", reading={})
@example(text="temperature_c if sentinel() else 1", reading={})
@example(text="f'{sentinel()}'", reading={})
def test_compile_expr_raises_only_expr_error_and_never_evaluates_python(
    text: str, reading: dict[str, Any]
) -> None:
    try:
        compiled = compile_expr(text, SMOKE_NAMES)
    except ExprError as exc:
        refusal = str(exc)
        assert refusal.strip(), "a refusal names its reason"
        return
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, ALLOWED_NODES), (text, type(node).__name__)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in ("abs", "min", "max"), text
        if isinstance(node, ast.Name):
            assert node.id in SMOKE_NAMES | {"true", "false", "abs", "min", "max"}, text
            assert "__" not in node.id
    compiled(reading)  # a compiled condition must never raise on a reading, whatever its values


@FUZZ
@given(text=expressions)
def test_refused_constructs_are_refused_wherever_they_appear(text: str) -> None:
    tree: ast.Expression | None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        tree = None
    dangerous = tree is not None and any(
        isinstance(n, ast.Attribute | ast.Subscript | ast.Lambda | ast.ListComp | ast.NamedExpr | ast.IfExp)
        or (isinstance(n, ast.Name) and "__" in n.id)
        or (
            isinstance(n, ast.Call)
            and not (isinstance(n.func, ast.Name) and n.func.id in ("abs", "min", "max"))
        )
        for n in ast.walk(tree)
    )
    if tree is None or dangerous:
        with pytest.raises(ExprError):
            compile_expr(text, ALL_NAMES)


def test_errors_name_the_field_not_the_rule_type() -> None:
    """Found by the fuzzing: fields of non-threshold rules were reported as `count.where`, a count rule's
    `threshold` as `count`, and a wrong `type` as `-`."""
    count = {**BASE_RULES["count"], "where": "bogus", "threshold": 0}
    absence = {**BASE_RULES["absence"], "period": "soon"}
    typo = {**BASE_RULES["rate"], "type": "rates"}
    _rules, errors = checked(yaml.safe_dump({"rules": [count, absence, typo]}))
    assert {(e.rule, e.field) for e in errors} == {
        ("fz-count", "where"),
        ("fz-count", "threshold"),
        ("fz-absence", "period"),
        ("fz-rate", "type"),
    }, errors


@pytest.mark.parametrize("text", ["rules: [2001-13-45]", "x: !!float abc", "[" * 3000])
def test_yaml_the_parser_chokes_on_is_an_error_not_a_crash(text: str) -> None:
    rules, errors = checked(text)
    assert rules == [] and [(e.rule, e.field) for e in errors] == [("-", "-")]
    assert errors[0].message.startswith("cannot read YAML")


def test_a_condition_on_a_missing_optional_field_evaluates_to_nothing() -> None:
    """Found by the fuzzing: `-noise_db` on a lamppost without a noise sensor raised TypeError inside
    the pipeline thread, which stopped ingest for good."""
    names = names_for([DeviceKind.LAMPPOST], "telemetry")
    assert compile_expr("-noise_db < -50", names)({"lamp_on": True}) is False
    assert compile_expr("abs(pm25_ug_m3) > 1", names)({"pm25_ug_m3": "n/a"}) is False
    assert compile_expr("power_w * 1.0 > 1", names)({"power_w": 10**400}) is False
