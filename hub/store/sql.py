"""SQL fragments built from the domain's constants, so a list of statuses is written in one place."""

from collections.abc import Iterable

from hub.domain.cases import DONE_STATUSES, OPEN_STATUSES


def _quoted(values: Iterable[str]) -> str:
    items = list(values)
    if any("'" in v for v in items):
        raise ValueError(f"{items!r} are not plain constants")
    return ", ".join(f"'{v}'" for v in items)


def text_array(values: Iterable[str]) -> str:
    """An SQL array literal of constant strings, for text that is interpolated into a query."""
    return f"ARRAY[{_quoted(values)}]"


OPEN_CASE = f"status NOT IN ({_quoted(DONE_STATUSES)})"
"""A case still worked on; the same predicate as the partial indexes on open cases."""
OPEN_STATUS_LIST = [s.value for s in OPEN_STATUSES]
"""The open statuses as a query parameter (`status = ANY(%s)`)."""
