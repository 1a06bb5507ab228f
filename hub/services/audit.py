"""The audit log: writing a request's row, and the admin's reading of it."""

from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from hub.domain.audit import AuditEntry
from hub.store import audit as audit_store
from hub.store.audit import Filters as Filters


def record(conn: psycopg.Connection[Any], entry: AuditEntry) -> None:
    """Without a community the target's own is looked up: a manager probing another community's
    records is exactly what the log must show."""
    if entry.community is None:
        entry = replace(entry, community=audit_store.community_of(conn, entry.target_type, entry.target_id))
    audit_store.record(conn, entry)


def entries(
    conn: psycopg.Connection[Any], filters: Filters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (time, id) of the last row of the previous page."""
    return audit_store.list_entries(conn, filters, after=after, limit=limit)
