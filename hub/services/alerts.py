"""Open alerts across devices, in the caller's scope, newest first."""

from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from hub.domain.users import User
from hub.store import alerts as alert_store
from hub.store.alerts import OpenFilters as OpenFilters


def open_alerts(
    conn: psycopg.Connection[Any],
    user: User,
    f: OpenFilters,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    return alert_store.open_page(
        conn, replace(f, communities=user.community_scope()), after=after, limit=limit
    )
