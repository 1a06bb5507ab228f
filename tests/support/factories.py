"""Records the case and rule tests make over and over: a community of their own with devices in it, a
rule as a rule file would state it, a case action taken as the API takes it, and a case's past seeded
straight into the tables for KPI tests."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from pydantic import TypeAdapter

from hub.cases import acting
from hub.cases.actions import Action, ActionRequest, HoldAction
from hub.cases.config import DispatchConfig
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.users import User
from hub.engine.schema import Rule
from hub.store import devices as device_store


def community(conn: psycopg.Connection[Any], prefix: str) -> str:
    """A new community `prefix-<random>`: the session database is shared by every test module, so each test
    counts only what happens in its own."""
    where = f"{prefix}-{uuid.uuid4().hex[:8]}"
    device_store.ensure_community(conn, where)
    return where


def device(
    conn: psycopg.Connection[Any],
    where: str,
    name: str,
    kind: DeviceKind,
    building: str | None = "b1",
    grid: str | None = "g1",
) -> DeviceRef:
    """A registered device `<where>-<name>`, and the reference the rule engine holds for it."""
    ref = DeviceRef(f"{where}-{name}", kind, where, building, grid)
    device_store.upsert_device(
        conn, device_store.NewDevice(ref.id, kind, where, building=building, grid=grid), None
    )
    return ref


def threshold_rule(
    rule_id: str,
    *,
    kinds: Sequence[str],
    category: str,
    severity: str,
    when: str,
    title: str | None = None,
    **dispatch: str,
) -> Rule:
    """A threshold rule validated as a rule file's would be; `dispatch` is its dispatch block (team and
    deadlines)."""
    return TypeAdapter(Rule).validate_python(
        {
            "type": "threshold",
            "id": rule_id,
            "title": title or f"rule {rule_id}",
            "kinds": list(kinds),
            "severity": severity,
            "category": category,
            "when": when,
            "dispatch": dispatch,
        }
    )


def act(
    conn: psycopg.Connection[Any],
    case_id: int,
    by: User,
    at: datetime,
    action: Action | HoldAction,
    cfg: DispatchConfig,
    **fields: Any,
) -> None:
    """`action` on the case by `by` at `at`, through the code the API calls."""
    acting.act(conn, case_id, by, ActionRequest(action, **fields), at, cfg)


SeededEvent = tuple[timedelta, str, str]
"""(after the case opened, history action, status it moved to)"""


def seeded_case(
    conn: psycopg.Connection[Any],
    place: str,
    team: str,
    created: datetime,
    status: str,
    events: Sequence[SeededEvent],
    ratings: Sequence[tuple[int, int]] = (),
) -> int:
    """A case of `team` opened and dispatched at `created` (acknowledge due in 30 min, resolve in 2 days),
    with `events` after that in its history, `status` now, and (resident id, stars) ratings 4 days on:
    KPI tests work their expected figures out from exactly these rows."""
    row = conn.execute(
        "INSERT INTO cases (title, category, severity, status, source, subject, community_id, team, created_at,"
        " updated_at, ack_due_at, resolve_due_at) VALUES ('seeded', 'flood', 'major', %s, 'operator', %s, %s,"
        " %s, %s, %s, %s, %s) RETURNING id",
        (
            status,
            f"seed:{uuid.uuid4().hex}",
            place,
            team,
            created,
            created,
            created + timedelta(minutes=30),
            created + timedelta(days=2),
        ),
    ).fetchone()
    assert row is not None
    case_id = int(row[0])
    previous = "dispatched"
    opening = [(timedelta(0), "opened", "new"), (timedelta(0), "dispatched", "dispatched")]
    for offset, action, to in [*opening, *events]:
        conn.execute(
            "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status)"
            " VALUES (%s, %s, 'seed', %s, %s, %s)",
            (case_id, created + offset, action, previous, to),
        )
        previous = to
    for resident, stars in ratings:
        conn.execute(
            "INSERT INTO case_ratings (case_id, resident_id, stars, created_at) VALUES (%s, %s, %s, %s)",
            (case_id, resident, stars, created + timedelta(days=4)),
        )
    return case_id
