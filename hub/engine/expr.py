"""A small expression language for rule conditions, compiled to closures at load time.

Python's parser reads the text, but only a whitelist of node kinds is accepted and nothing is ever
`eval`-ed: comparisons, `and`/`or`/`not`, + - * /, `abs`, `min`, `max`, numbers, short quoted
strings, `true`/`false`, and the metric names of the device kinds the rule applies to.
"""

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

Values = Mapping[str, Any]
Compiled = Callable[[Values], Any]


class ExprError(ValueError):
    pass


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_FUNCS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max}
_CONSTS = {"true": True, "false": False}


def compile_expr(text: str, names: frozenset[str]) -> Compiled:
    """Compile `text`, allowing only `names` as variables; raises ExprError naming the problem."""
    if len(text) > 500:
        raise ExprError("expression longer than 500 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"syntax error at column {exc.offset}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, lone surrogates, deep nesting
        raise ExprError(f"cannot parse the expression: {type(exc).__name__}") from None
    try:
        return _build(tree.body, names)
    except RecursionError:
        raise ExprError("expression nested too deeply") from None


def referenced_names(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text.strip(), mode="eval")) if isinstance(n, ast.Name)}


def _build(node: ast.expr, names: frozenset[str]) -> Compiled:
    if isinstance(node, ast.Constant) and (
        (isinstance(node.value, int | float) and not isinstance(node.value, bool))
        or (isinstance(node.value, str) and len(node.value) <= 100)
    ):
        value = node.value
        return lambda _v: value
    if isinstance(node, ast.Name):
        if node.id in _CONSTS:
            const = _CONSTS[node.id]
            return lambda _v: const
        if node.id not in names:
            known = ", ".join(sorted(names))
            raise ExprError(f"unknown name {node.id!r}; known metrics: {known}")
        key = node.id
        return lambda v: v.get(key)
    if isinstance(node, ast.BoolOp):
        parts = [_build(p, names) for p in node.values]
        return _all(parts) if isinstance(node.op, ast.And) else _any(parts)
    if isinstance(node, ast.UnaryOp):
        inner = _build(node.operand, names)
        if isinstance(node.op, ast.Not):
            return lambda v: not inner(v)
        if isinstance(node.op, ast.USub):

            def negate(v: Values) -> Any:
                a = inner(v)
                try:
                    return None if a is None else -a
                except TypeError:
                    return None

            return negate
    if isinstance(node, ast.Compare):
        left = _build(node.left, names)
        ops = [_COMPARE.get(type(op)) for op in node.ops]
        if None in ops:
            raise ExprError("only == != < <= > >= comparisons are allowed")
        if len(ops) == 1 and isinstance(node.left, ast.Name) and node.left.id not in _CONSTS:
            _build(node.left, names)
            right_node = node.comparators[0]
            if isinstance(right_node, ast.Constant):
                _build(right_node, names)
                return _metric_vs_constant(node.left.id, ops[0], right_node.value)  # type: ignore[arg-type]
        rights = [_build(c, names) for c in node.comparators]
        pairs = list(zip(ops, rights, strict=True))

        def compare(v: Values) -> bool:
            a = left(v)
            for op, right in pairs:
                b = right(v)
                try:
                    if a is None or b is None or not op(a, b):  # type: ignore[misc]
                        return False
                except TypeError:
                    return False
                a = b
            return True

        return compare
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        fn = _ARITH[type(node.op)]
        lhs, rhs = _build(node.left, names), _build(node.right, names)

        def arith(v: Values) -> Any:
            a, b = lhs(v), rhs(v)
            if a is None or b is None:
                return None
            try:
                return fn(a, b)
            except (ArithmeticError, TypeError):  # x / 0, a huge integer as a float, 'a' * 1.5
                return None

        return arith
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
        if node.keywords or not node.args:
            raise ExprError(f"{node.func.id}() takes positional arguments only")
        func = _FUNCS[node.func.id]
        args = [_build(a, names) for a in node.args]

        def call(v: Values) -> Any:
            vals = [a(v) for a in args]
            if None in vals:
                return None
            try:
                return func(*vals)
            except (ArithmeticError, TypeError):  # abs('a'), max(1, 'a')
                return None

        return call
    raise ExprError(f"{type(node).__name__} is not allowed in a rule expression")


def _metric_vs_constant(key: str, op: Callable[[Any, Any], bool], const: Any) -> Compiled:
    """The shape of almost every rule condition (`water_level_cm > 40`), evaluated per reading per rule,
    so it gets its own closure; same semantics as the general comparison."""

    def compare(v: Values) -> bool:
        a = v.get(key)
        if a is None:
            return False
        try:
            return bool(op(a, const))
        except TypeError:
            return False

    return compare


def _all(parts: list[Compiled]) -> Compiled:
    if len(parts) == 2:
        first, second = parts
        return lambda v: bool(first(v)) and bool(second(v))

    def every(v: Values) -> bool:
        return all(p(v) for p in parts)

    return every


def _any(parts: list[Compiled]) -> Compiled:
    if len(parts) == 2:
        first, second = parts
        return lambda v: bool(first(v)) or bool(second(v))

    def some(v: Values) -> bool:
        return any(p(v) for p in parts)

    return some
