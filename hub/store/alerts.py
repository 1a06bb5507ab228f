"""Alerts: at most one open per (rule, subject), enforced by a partial unique index."""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hub.domain.alerts import AlertOpened


def open_alert(
    conn: psycopg.Connection[Any], a: AlertOpened, recorded_at: datetime, silence_id: int | None = None
) -> int | None:
    """Insert the alert with the device's times and the hub's `recorded_at`; None when one is already
    open for the rule and subject."""
    row = conn.execute(
        """
        INSERT INTO alerts (rule_id, rule_version, subject, device_id, community_id, building, grid, severity,
                            category, title, title_zh, status, started_at, opened_at, recorded_at,
                            explanation, silence_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, %s, %s, %s)
        ON CONFLICT (rule_id, subject) WHERE status = 'open' DO NOTHING
        RETURNING id
        """,
        (
            a.rule.id,
            a.rule.version,
            a.subject,
            a.device.id,
            a.device.community,
            a.device.building,
            a.device.grid,
            a.rule.severity,
            a.rule.category,
            a.rule.title,
            a.rule.title_zh,
            a.started_at,
            a.opened_at,
            recorded_at,
            json.dumps(a.explanation),
            silence_id,
        ),
    ).fetchone()
    return None if row is None else int(row[0])


def clear_alert(
    conn: psycopg.Connection[Any],
    rule_id: str,
    subject: str,
    at: datetime,
    reason: str,
    facts: Mapping[str, Any] | None = None,
) -> int | None:
    row = conn.execute(
        "UPDATE alerts SET status = 'cleared', cleared_at = %s, clear_reason = %s, clear_facts = %s "
        "WHERE rule_id = %s AND subject = %s AND status = 'open' RETURNING id",
        (at, reason, None if facts is None else json.dumps(facts), rule_id, subject),
    ).fetchone()
    return None if row is None else int(row[0])


@dataclass(frozen=True)
class OpenAlert:
    rule_id: str
    subject: str
    device_id: str | None
    opened_at: datetime
    members: list[str]


def open_alerts(conn: psycopg.Connection[Any], communities: Collection[str] | None = None) -> list[OpenAlert]:
    return [
        OpenAlert(r[0], r[1], r[2], r[3], list(r[4] or []))
        for r in conn.execute(
            "SELECT rule_id, subject, device_id, opened_at, explanation->'members' FROM alerts "
            "WHERE status = 'open' AND (%s::text[] IS NULL OR community_id = ANY(%s::text[]))",
            (None if communities is None else list(communities),) * 2,
        )
    ]


def opened_between(
    conn: psycopg.Connection[Any],
    rule_ids: list[str],
    start: datetime,
    end: datetime,
    device_ids: list[str] | None,
) -> list[tuple[str, str, datetime]]:
    """(rule id, subject, opened at) of alerts the live rules raised, for backtest comparison."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT rule_id, subject, opened_at FROM alerts WHERE rule_id = ANY(%s) AND opened_at >= %s "
            "AND opened_at < %s AND (%s::text[] IS NULL OR device_id = ANY(%s)) ORDER BY opened_at",
            (rule_ids, start, end, device_ids, device_ids),
        )
    ]


@dataclass(frozen=True)
class OpenFilters:
    """Each one given narrows the list of open alerts; `communities` is the caller's scope."""

    communities: list[str] | None = None
    community: str | None = None
    rule: str | None = None
    severity: str | None = None
    category: str | None = None
    data_state: str | None = None
    silenced: bool | None = None
    kind: str | None = None


def open_page(
    conn: psycopg.Connection[Any], f: OpenFilters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Open alerts, newest first, with their device's kind and the cases they are linked to; `after` is
    the (opened at, id) of the last row of the previous page."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            SELECT a.id, a.rule_id, a.title, a.title_zh, a.subject, a.device_id, d.kind AS device_kind,
                   a.community_id, a.building, a.grid, a.severity, a.category, a.started_at, a.opened_at,
                   a.data_state, a.data_state_since, a.silence_id, a.silence_id IS NOT NULL AS silenced,
                   coalesce(array_agg(ca.case_id ORDER BY ca.case_id)
                            FILTER (WHERE ca.case_id IS NOT NULL), '{}') AS case_ids
            FROM alerts a
            LEFT JOIN devices d ON d.id = a.device_id
            LEFT JOIN case_alerts ca ON ca.alert_id = a.id
            WHERE a.status = 'open'
              AND (%(communities)s::text[] IS NULL OR a.community_id = ANY(%(communities)s::text[]))
              AND (%(community)s::text IS NULL OR a.community_id = %(community)s::text)
              AND (%(rule)s::text IS NULL OR a.rule_id = %(rule)s::text)
              AND (%(severity)s::text IS NULL OR a.severity = %(severity)s::text)
              AND (%(category)s::text IS NULL OR a.category = %(category)s::text)
              AND (%(data_state)s::text IS NULL OR a.data_state = %(data_state)s::text)
              AND (%(silenced)s::boolean IS NULL OR (a.silence_id IS NOT NULL) = %(silenced)s::boolean)
              AND (%(kind)s::text IS NULL OR d.kind = %(kind)s::text)
              AND (%(after_t)s::timestamptz IS NULL
                   OR (a.opened_at, a.id) < (%(after_t)s::timestamptz, %(after_id)s::bigint))
            GROUP BY a.id, d.kind
            ORDER BY a.opened_at DESC, a.id DESC
            LIMIT %(limit)s
            """,
            {
                **{k: getattr(f, k) for k in OpenFilters.__dataclass_fields__},
                "after_t": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit,
            },
        ).fetchall()
