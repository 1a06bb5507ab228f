"""Load adapter files, reporting every problem with file, adapter id and field, like the rule loader."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.adapters.mapping import Mapper
from hub.adapters.schema import Adapter, AdapterFile, field_problems


@dataclass(frozen=True)
class LoadError:
    file: str
    adapter: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: adapter {self.adapter}: {self.field}: {self.message}"


class AdaptersRejected(ValueError):
    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def adapter_files(path: Path) -> list[Path]:
    """The adapter files: `path` itself, or the YAML files directly in the directory (its `samples/`
    are not adapters)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_text(text: str, name: str) -> tuple[list[Adapter], list[LoadError]]:
    try:
        raw = yaml.safe_load(text)
    except Exception as exc:
        # PyYAML's constructors raise plain built-in errors too; none may escape as a crash of a reload
        return [], [LoadError(name, "-", "-", f"cannot read YAML: {type(exc).__name__}: {exc}")]
    try:
        adapters = AdapterFile.model_validate(raw).adapters
    except ValidationError as exc:
        return [], [_located(name, raw, err) for err in exc.errors(include_url=False)]
    errors = [
        LoadError(name, a.id, ".".join(str(p) for p in loc), message)
        for a in adapters
        for loc, message in field_problems(a)
    ]
    return ([], errors) if errors else (adapters, [])


def load_files(path: Path, native_prefix: str) -> tuple[dict[str, list[Adapter]], list[LoadError]]:
    """Each file's adapters by file name, and every error: a file with an error gives no adapters, the
    others stand. Ids, HTTP endpoints and MQTT filters must be unique across files, and no filter may
    catch native contract topics (`native_prefix`)."""
    files = adapter_files(path)
    by_file: dict[str, list[Adapter]] = {}
    errors: list[LoadError] = []
    ids: dict[str, str] = {}
    endpoints: dict[tuple[str, str], str] = {}
    filters: dict[str, str] = {}
    for f in files:
        name = f.name
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(LoadError(name, "-", "-", f"cannot read: {exc}"))
            continue
        found, errs = load_text(text, name)
        for a in found:
            if a.id in ids:
                errs.append(LoadError(name, a.id, "id", f"duplicate adapter id, also in {ids[a.id]}"))
            if a.source.http is not None:
                key = (a.source.http.platform, a.source.http.endpoint)
                if key in endpoints:
                    errs.append(
                        LoadError(name, a.id, "source.http", f"endpoint also used by {endpoints[key]}")
                    )
                endpoints[key] = a.id
            if a.source.mqtt is not None:
                clash = next((f"adapter {o}" for t, o in filters.items() if overlap(t, a.source.mqtt)), None)
                if overlap(a.source.mqtt, native_prefix + "/#"):
                    clash = f"native topics {native_prefix}/…"
                if overlap(a.source.mqtt, "http/#"):
                    clash = "http/…, where HTTP pushes are queued"
                if clash is not None:
                    errs.append(LoadError(name, a.id, "source.mqtt", f"topic filter overlaps {clash}"))
                filters[a.source.mqtt] = a.id
            ids[a.id] = name
        errors += errs
        if not errs:
            by_file[name] = found
    return by_file, errors


def load(path: Path, native_prefix: str) -> list[Mapper]:
    """Every adapter under `path`, or AdaptersRejected with every error; for the command line."""
    by_file, errors = load_files(path, native_prefix)
    if errors:
        raise AdaptersRejected(errors)
    return [Mapper(a) for adapters in by_file.values() for a in adapters]


def overlap(a: str, b: str) -> bool:
    """Whether some topic matches both MQTT topic filters."""
    la, lb = a.split("/"), b.split("/")
    for x, y in zip(la, lb, strict=False):
        if "#" in (x, y):
            return True
        if x != y and "+" not in (x, y):
            return False
    return (
        len(la) == len(lb)
        or (len(la) == len(lb) + 1 and la[-1] == "#")
        or (len(lb) == len(la) + 1 and lb[-1] == "#")
    )


def _located(name: str, raw: Any, err: Any) -> LoadError:
    loc = tuple(err["loc"])
    adapter_id = "-"
    field_path = loc
    if len(loc) >= 2 and loc[0] == "adapters" and isinstance(loc[1], int):
        field_path = loc[2:]
        items = raw.get("adapters") if isinstance(raw, dict) else None
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            adapter_id = str(items[loc[1]].get("id", f"#{loc[1] + 1}"))
        else:
            adapter_id = f"#{loc[1] + 1}"
    field = ".".join(str(p) for p in field_path) or "-"
    message = str(err["msg"]).removeprefix("Value error, ")
    return LoadError(name, adapter_id, field, message)
