"""Records the case and rule tests make over and over: a community of their own with devices in it, a
rule as a rule file would state it, and a case action taken as the API takes it."""

import uuid
from collections.abc import Sequence
from datetime import datetime
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
