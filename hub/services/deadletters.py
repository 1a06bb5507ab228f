"""Refused messages as the API serves them: a page of dead letters and their counts per reason over time,
in the caller's scope (a refusal whose topic names no community is for admins only). The stored payload
prefix goes out as hex, and as text too when it is UTF-8 (a cut multi-byte character at its end is
dropped), never as markup: the dashboard shows both as text."""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

from hub.domain.errors import Invalid
from hub.domain.users import User
from hub.store import deadletters as store
from hub.store.deadletters import Filters as Filters

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 24 * 93


def page(
    conn: psycopg.Connection[Any], user: User, f: Filters, *, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (time, id) of the last row of the previous page."""
    rows = store.page(conn, replace(f, communities=user.community_scope()), after=after, limit=limit)
    for r in rows:
        head: bytes = r.pop("payload_head")
        r["payload_hex"] = head.hex(" ")
        r["payload_text"] = as_text(head, complete=len(head) == r["payload_size"])
    return rows


def as_text(head: bytes, *, complete: bool) -> str | None:
    """The bytes as text if they are UTF-8 and printable (line breaks and tabs allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if complete or exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if any(not c.isprintable() and c not in "\t\n\r" for c in text):
        return None
    return text


def summary(
    conn: psycopg.Connection[Any],
    user: User,
    f: Filters,
    bucket: Literal["hour", "day"],
    *,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """Counts per bucket and reason code, and the totals per code over `[since, until)`, at most
    MAX_BUCKETS buckets."""
    if (until - since) / BUCKETS[bucket] > MAX_BUCKETS:
        raise Invalid(f"at most {MAX_BUCKETS} buckets: a shorter range, or `bucket=day`")
    scoped = replace(f, communities=user.community_scope(), since=since, until=until)
    rows = store.counts(conn, scoped, bucket)
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["code"]] = totals.get(r["code"], 0) + r["count"]
    return {"buckets": rows, "totals": totals}
