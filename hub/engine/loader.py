"""Load rule files, reporting every problem with file, rule id and field, like a compiler."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import yaml
from pydantic import ValidationError

from hub.engine.schema import Rule, RuleFile

_RULE_TYPES = frozenset(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Rule)[0])
)


@dataclass(frozen=True)
class LoadError:
    file: str
    rule: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: rule {self.rule}: {self.field}: {self.message}"


class RulesRejected(ValueError):
    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def digest(text: str) -> str:
    """A rule file's content hash: what a saved version, a worker's loaded file and an editor's base
    are compared by."""
    return hashlib.sha256(text.encode()).hexdigest()


def rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def read(path: Path, *, relative: bool = False) -> tuple[dict[str, str], list[LoadError]]:
    """The text of every rule file under `path`, named as found (`rules/smoke.yaml`) or, with
    `relative`, by its name inside the directory (`smoke.yaml`), as the API and the dashboard name it."""
    files = rule_files(path)
    if not files:
        return {}, [LoadError(str(path), "-", "-", "no rule files (*.yaml) found")]
    texts: dict[str, str] = {}
    errors: list[LoadError] = []
    for f in files:
        name = (f.name if f == path else str(f.relative_to(path))) if relative else str(f)
        try:
            texts[name] = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(LoadError(name, "-", "-", f"cannot read: {exc}"))
    return texts, errors


def load_text(text: str, name: str) -> tuple[list[Rule], list[LoadError]]:
    """Rules from YAML text; `name` stands for the file in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [], [LoadError(name, "-", "-", f"cannot read YAML: {exc}")]
    except Exception as exc:
        # PyYAML's constructors raise plain built-in errors (`2001-13-45`, `!!float abc`, `!!timestamp x`)
        # and deep nesting exhausts the stack: none may escape as a crash of a reload or a backtest
        return [], [LoadError(name, "-", "-", f"cannot read YAML: {type(exc).__name__}: {exc}")]
    try:
        return RuleFile.model_validate(raw).rules, []
    except ValidationError as exc:
        return [], [_located(name, raw, err) for err in exc.errors(include_url=False)]


def load_texts(texts: Mapping[str, str]) -> tuple[dict[str, list[Rule]], list[LoadError]]:
    """Each file's rules by its name, and every error of every file, a rule id used twice included:
    what `hub rules check` prints, also for a set of files that exists only in a request."""
    by_file: dict[str, list[Rule]] = {}
    errors: list[LoadError] = []
    seen: dict[str, str] = {}
    for name, text in texts.items():
        found, errs = load_text(text, name)
        errors += errs
        for rule in found:
            if rule.id in seen:
                errors.append(LoadError(name, rule.id, "id", f"duplicate rule id, also in {seen[rule.id]}"))
            seen[rule.id] = name
        by_file[name] = found
    return by_file, errors


def load(path: Path) -> list[Rule]:
    """All rules under `path`, or RulesRejected with every error; never a partial set."""
    texts, errors = read(path)
    by_file, more = load_texts(texts)
    if errors or more:
        raise RulesRejected(errors + more)
    return [rule for rules in by_file.values() for rule in rules]


def _located(path: str, raw: object, err: object) -> LoadError:
    loc = tuple(err["loc"])  # type: ignore[index]
    rule_id = "-"
    field_path = loc
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        field_path = loc[2:]
        if field_path and field_path[0] in _RULE_TYPES:  # the discriminated union's tag, not a field
            field_path = field_path[1:]
        if isinstance(raw, dict):
            items = raw.get("rules")
            if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
                rule_id = str(items[loc[1]].get("id", f"#{loc[1] + 1}"))
            else:
                rule_id = f"#{loc[1] + 1}"
    field = ".".join(str(p) for p in field_path) or "-"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # type: ignore[index]
        field = ".".join(str(p) for p in (*field_path, "type"))
    message = str(err["msg"]).removeprefix("Value error, ")  # type: ignore[index]
    return LoadError(path, rule_id, field, message)
