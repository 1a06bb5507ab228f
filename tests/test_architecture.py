"""The shape of the code, checked: one writer of a case's status, and SQL only under `hub/store/`.

The SQL of every module is read from its string literals (f-strings included), so a comment or a
docstring that mentions a table does not count, and a query built in pieces still does.
"""

import ast
import re
from pathlib import Path

import pytest

from tests.support.services import ROOT

HUB = ROOT / "hub"
STATUS_WRITER = HUB / "store" / "case_status.py"

_UPDATE_STATUS = re.compile(r"\bUPDATE\s+cases\s+SET\b(?:(?!\bWHERE\b).)*?\bstatus\s*=", re.I | re.S)
_INSERT_CASE = re.compile(r"\bINSERT\s+INTO\s+cases\s*\(([^)]*)\)", re.I | re.S)
_INSERT_EVENT = re.compile(r"\bINSERT\s+INTO\s+case_events\s*\(([^)]*)\)", re.I | re.S)
_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.I | re.S)


def writes_case_status(sql: str) -> bool:
    """Whether the statement sets `cases.status` or records a status change in `case_events`."""
    if _UPDATE_STATUS.search(sql):
        return True
    if any(re.search(r"\bstatus\b", m.group(1)) for m in _INSERT_CASE.finditer(sql)):
        return True
    return any(re.search(r"\b(from|to)_status\b", m.group(1)) for m in _INSERT_EVENT.finditer(sql))


def sql_texts(path: Path) -> list[str]:
    """The module's string literals, each f-string joined from its constant parts."""
    texts: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            texts.append(
                "".join(
                    v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return texts


MODULES = sorted(HUB.rglob("*.py"))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE cases SET status = 'cancelled', cancel_reason = %s WHERE id = %s",
        "UPDATE cases\n   SET updated_at = %s,\n       status = %s\n WHERE id = %s",
        "INSERT INTO cases (title, status, source) VALUES (%s, %s, %s)",
        "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note) VALUES (...)",
    ],
)
def test_the_detector_sees_a_status_write(sql: str) -> None:
    assert writes_case_status(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE cases SET updated_at = %s WHERE id = %s AND status = 'dispatched'",
        "INSERT INTO cases (title, category) VALUES (%s, %s)",
        "INSERT INTO case_events (case_id, at, actor, action, note, detail) VALUES (...)",
        "SELECT status FROM cases WHERE id = %s FOR UPDATE",
    ],
)
def test_the_detector_leaves_other_statements_alone(sql: str) -> None:
    assert not writes_case_status(sql)


def test_only_the_case_status_module_writes_a_case_status() -> None:
    writers = sorted(
        str(p.relative_to(ROOT)) for p in MODULES if any(writes_case_status(t) for t in sql_texts(p))
    )
    assert writers == [str(STATUS_WRITER.relative_to(ROOT))]


def test_only_the_store_holds_sql() -> None:
    outside = sorted(
        str(p.relative_to(ROOT))
        for p in MODULES
        if HUB / "store" not in p.parents and any(_SQL.search(t) for t in sql_texts(p))
    )
    assert outside == []
