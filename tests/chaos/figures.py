"""The suite's figures: one JSON line per fault in test-output/chaos.jsonl, and the table scripts/chaos
prints from it (`python -m tests.chaos.figures [FILE]`).

Figures are written before a test's assertions run, so a fault that loses messages still shows how
many in the table instead of only in a traceback.
"""

import json
import sys
from pathlib import Path
from typing import Any

from tests.support.services import ROOT

FILE = ROOT / "test-output" / "chaos.jsonl"

COLUMNS = (
    ("fault", "fault"),
    ("messages", "messages"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("alerts", "alerts expected/raised"),
    ("cases", "cases expected/opened"),
    ("notifications", "notifications expected/delivered"),
    ("recovery_s", "recovery s"),
)


def record(figures: dict[str, Any], path: Path = FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(figures, sort_keys=True) + "\n")


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "alerts":
        return f"{row['alerts_expected']}/{row['alerts_raised']}"
    if key == "cases":
        return f"{row['cases_expected']}/{row['cases_opened']}" if "cases_opened" in row else "–"
    if key == "notifications":
        return f"{row['notifications_expected']}/{row['notifications_delivered']}"
    value = row.get(key)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, so the output pastes into the README unchanged."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(r, key) for key, _ in COLUMNS) + " |" for r in rows]
    notes = [f"- {r['fault']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else FILE
    if not path.exists():
        print(f"no figures in {path}", file=sys.stderr)
        return 1
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
