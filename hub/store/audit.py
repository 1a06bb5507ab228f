"""The audit log: who read personal data or acted on a case, on what, from where, and how it ended.

Rows are only inserted (the table refuses UPDATE) and leave only by retention. Pages are keyset pages
on (time, id), so rows written while someone pages through never shift or repeat a page."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hub.domain.audit import AuditEntry

BIGINT_MAX = 2**63 - 1
_COLUMNS = sql.SQL(
    "id, time, actor_id, actor, role, action, target_type, target_id, community_id, outcome, client_addr, "
    "details"
)


def record(conn: psycopg.Connection[Any], e: AuditEntry) -> int:
    row = conn.execute(
        "INSERT INTO audit_log (actor_id, actor, role, action, target_type, target_id, community_id, outcome,"
        " client_addr, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            e.actor.id,
            e.actor.username,
            e.actor.role,
            e.action,
            e.target_type,
            e.target_id,
            e.community,
            e.outcome,
            e.client_addr,
            Jsonb(e.details),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def community_of(conn: psycopg.Connection[Any], target_type: str, target_id: str | None) -> str | None:
    """The community of a case, device or silence (or the community itself), also for a request refused
    before its route looked: a manager probing another community's records is exactly what the log must
    show."""
    if target_id is None:
        return None
    if target_type in ("case", "silence"):
        if not (target_id.isascii() and target_id.isdigit() and int(target_id) <= BIGINT_MAX):
            return None
        table = sql.Identifier("cases" if target_type == "case" else "silences")
        row = conn.execute(
            sql.SQL("SELECT community_id FROM {} WHERE id = %s").format(table), (int(target_id),)
        ).fetchone()
    elif target_type == "device":
        row = conn.execute("SELECT community_id FROM devices WHERE id = %s", (target_id,)).fetchone()
    elif target_type == "community":
        row = conn.execute("SELECT id FROM communities WHERE id = %s", (target_id,)).fetchone()
    else:
        return None
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class Filters:
    """Each one given narrows the list; `since` is inclusive, `until` exclusive."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    community_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(
    conn: psycopg.Connection[Any], filters: Filters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (time, id) of the last row of the previous page. The WHERE clause
    holds only the filters given, so each query can use the index that fits it."""
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    for column in ("actor", "action", "target_type", "target_id", "community_id"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    if filters.since is not None:
        conditions.append(sql.SQL("time >= %(since)s"))
        params["since"] = filters.since
    if filters.until is not None:
        conditions.append(sql.SQL("time < %(until)s"))
        params["until"] = filters.until
    if after is not None:
        conditions.append(sql.SQL("(time, id) < (%(after_time)s, %(after_id)s)"))
        params["after_time"], params["after_id"] = after
    where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
    query = sql.SQL(
        "SELECT {columns} FROM audit_log WHERE {where} ORDER BY time DESC, id DESC LIMIT %(limit)s"
    ).format(columns=_COLUMNS, where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def delete_before(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    """Retention is the only way rows leave the log."""
    return conn.execute("DELETE FROM audit_log WHERE time < %s", (cutoff,)).rowcount
