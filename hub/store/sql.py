"""SQL fragments built from the domain's constants, so a list of statuses is written in one place."""

from collections.abc import Iterable

from hub.domain.cases import DONE_STATUSES, MOVES, OPEN_STATUSES, Move


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
_FOLDABLE = text_array(s.value for s in MOVES[Move.FOLD].sources if s is not None)
UNTOUCHED_CASE = (
    f"c.status = ANY({_FOLDABLE}) "  # noqa: S608 - the interpolated text is a constant
    "AND c.assignee_id IS NULL AND c.acknowledged_at IS NULL AND c.suspended_at IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM case_requests r WHERE r.case_id = c.id AND r.decision IS NULL)"
)
"""A case (as `c`) nobody has taken up yet — dispatched, unassigned, unacknowledged, not suspended, no
request waiting — which the hub may fold into another (a parent's outage, a storm)."""

OF_ORGANISATION = (
    "(%(organisation)s::text IS NULL "
    "OR c.team IN (SELECT t.id FROM teams t WHERE t.organisation = %(organisation)s::text) "
    "OR c.id IN (SELECT k.case_id FROM case_calls k WHERE k.organisation = %(organisation)s::text))"
)
"""A case (as `c`) an account bound to the organisation in the parameter `organisation` may see: one of
its teams has it or it calls on the organisation; every case when the parameter is null."""
