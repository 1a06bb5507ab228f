"""Rebuilding rule state after a restart from what the database holds, instead of keeping a copy.

The engine is seeded with the alerts still open, its absence clocks with each device's last-seen time
(held while the hub cannot hear the devices: absence counts again from when their session is
subscribed), and then replays the last stretch of stored readings (as long as the longest rule duration or window).
Replay is deterministic, so a condition that was 8 s into a 10 s hold is 8 s into it again. Where the
replay ends in a different place than the alerts table (the rule set changed while the hub was down),
the difference is written, so the table and the engine agree before ingest resumes.
"""

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg

from hub.cases import intake
from hub.cases.config import DispatchConfig
from hub.domain.alerts import AlertOpened, Transition
from hub.domain.devices import DeviceRef
from hub.engine.evaluator import Engine
from hub.engine.replay import lookback, replay
from hub.store import alerts as alert_store
from hub.store import devices as device_store
from hub.store.replay import stored_readings

log = logging.getLogger(__name__)


def rebuild(
    conn: psycopg.Connection[Any],
    engine: Engine,
    registry: dict[str, DeviceRef],
    now: datetime,
    dispatch: DispatchConfig,
    communities: Collection[str] | None = None,
) -> int:
    """Returns the number of readings replayed. With `communities`, only their devices and groups are
    rebuilt (a worker taking over an ingest partition); `registry` still names every device."""
    devices = registry
    if communities is not None:
        devices = {k: d for k, d in registry.items() if d.community in communities}
    open_alerts = alert_store.open_alerts(conn, communities)
    engine.seed_open(
        (a.rule_id, a.subject, registry.get(a.device_id or ""), a.opened_at, a.members) for a in open_alerts
    )
    in_service = [d for d in devices.values() if not d.decommissioned]
    engine.seed_absence(in_service, device_store.last_seen(conn), now)
    # until the partition's session is subscribed the hub hears nobody, and its downtime was its own
    engine.listening(lambda c: communities is None or c in communities, None)
    counted = 0

    def progress(n: int, _at: datetime) -> None:
        nonlocal counted
        counted = n

    transitions = replay(
        engine,
        stored_readings(
            conn, devices, now - lookback(engine.rules), now, None if communities is None else list(devices)
        ),
        until=now,
        tick_every=None,
        progress=progress,
    )
    _reconcile(conn, transitions, {(a.rule_id, a.subject) for a in open_alerts}, dispatch, now)
    log.info("rule state rebuilt from %d stored reading(s) and %d open alert(s)", counted, len(open_alerts))
    return counted


def _reconcile(
    conn: psycopg.Connection[Any],
    transitions: list[Transition],
    open_in_db: set[tuple[str, str]],
    dispatch: DispatchConfig,
    now: datetime,
) -> None:
    last: dict[tuple[str, str], Transition] = {}
    for t in transitions:
        last[(t.rule.id, t.subject)] = t
    differences = [t for key, t in last.items() if isinstance(t, AlertOpened) != (key in open_in_db)]
    with conn.transaction():
        intake.apply(conn, differences, dispatch, now)
