"""The adapters' JSON paths: `a.b[0].c`, `a["key with.dots"]`, and `$.x` for the message root inside a
`foreach` item. Compiled once at load time; following one is a few dictionary lookups."""

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["([^"\]]+)"\]""")


class PathError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class JsonPath:
    text: str
    steps: tuple[str | int, ...]
    from_root: bool

    def find(self, item: Any, root: Any) -> tuple[bool, Any]:
        """(found, value): a missing key, an index past the end or a step into a non-container is not
        found, never an exception."""
        node = root if self.from_root else item
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return False, None
            elif not isinstance(node, dict) or step not in node:
                return False, None
            node = node[step]
        return True, node


def compile_path(text: str) -> JsonPath:
    """A path, or PathError saying where it stops making sense."""
    rest, from_root = text, False
    if rest == "$":
        return JsonPath(text, (), True)
    if rest.startswith("$."):
        rest, from_root = rest[2:], True
    if not rest:
        raise PathError("empty path")
    steps: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None or (pos == 0 and rest.startswith(".")) or (pos > 0 and m.group(1) and rest[pos] != "."):
            raise PathError(f"cannot read path {text!r} at character {pos + 1}")
        name, index, quoted = m.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        pos = m.end()
    return JsonPath(text, tuple(steps), from_root)
