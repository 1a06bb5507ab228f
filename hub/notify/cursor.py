"""Where an SSE stream stands in `case_events`.

Event ids are taken at insert but become visible at commit, so id 11 can be read while id 10 is still in
an open transaction. The cursor remembers what it has handled above its watermark and gives a missing id
`grace_s` to appear before moving past it (a rolled-back insert leaves a gap that never fills).
"""

from collections.abc import Iterable


class EventCursor:
    def __init__(self, after: int, grace_s: float) -> None:
        self.after = after
        self._grace_s = grace_s
        self._handled: set[int] = set()
        self._missing_since: dict[int, float] = {}

    @property
    def handled_above(self) -> list[int]:
        """Ids above the watermark already handled: the next read skips them."""
        return sorted(self._handled)

    def advance(self, ids: Iterable[int], now: float) -> None:
        self._handled.update(ids)
        top = max(self._handled, default=self.after)
        for missing in range(self.after + 1, top):
            if missing not in self._handled:
                self._missing_since.setdefault(missing, now)
        while True:
            nxt = self.after + 1
            if nxt in self._handled:
                self._handled.remove(nxt)
            elif nxt in self._missing_since and now - self._missing_since[nxt] >= self._grace_s:
                del self._missing_since[nxt]
            else:
                return
            self.after = nxt
