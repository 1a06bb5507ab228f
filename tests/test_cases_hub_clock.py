"""Devices' clocks are evidence, not authority: through the real pipeline and database, an alert keeps
the device's times while its case, deadlines and escalation run on the hub's clock."""

import json
import queue
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import TypeAdapter

from hub.cases.config import DispatchConfig
from hub.cases.sla import SlaRule
from hub.devices.service import register
from hub.engine.evaluator import Engine
from hub.engine.schema import Rule
from hub.ingest.database import IngestDatabase
from hub.ingest.inbound import Inbound
from hub.ingest.metrics import IngestMetrics
from hub.ingest.pipeline import Pipeline, PipelineConfig
from hub.jobs.escalation import escalate_breached

SMOKE = TypeAdapter(Rule).validate_python(
    {
        "type": "threshold",
        "id": "hc-smoke",
        "title": "Smoke alarm",
        "kinds": ["smoke_detector"],
        "severity": "critical",
        "category": "fire",
        "when": "alarm",
        "dispatch": {"team": "fire-safety", "ack_within": "2m", "resolve_within": "30m"},
    }
)
DISPATCH = DispatchConfig(default_team="desk", sla=[SlaRule(ack_within=3600, resolve_within=86400)])


def alarm(device: str, at: datetime, seq: int) -> Inbound:
    body = {
        "device_id": device,
        "ts": at.isoformat(),
        "seq": seq,
        "smoke_obscuration_pct_per_m": 4.0,
        "temperature_c": 30.0,
        "battery_pct": 90.0,
        "alarm": True,
    }
    community = device.rsplit("-", 1)[0]
    topic = f"sc/v1/{community}/smoke_detector/{device}/telemetry"
    return Inbound(topic, json.dumps(body).encode(), seq, 1, datetime.now(UTC))


def pipeline(database_url: str) -> Pipeline:
    metrics = IngestMetrics()
    return Pipeline(
        PipelineConfig(
            prefix="sc/v1",
            batch_max_rows=10,
            batch_max_delay_s=0.05,
            dead_letter_bytes=64,
            pseudonym_key=b"k",
        ),
        database=IngestDatabase(database_url, metrics),
        engine=Engine([SMOKE]),
        inbox=queue.Queue(),
        ack=lambda _ms: None,
        dispatch=lambda: DISPATCH,
        metrics=metrics,
    )


def case_of(conn: psycopg.Connection[Any], device: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT c.id, c.created_at, c.ack_due_at, c.resolve_due_at, a.opened_at, a.recorded_at "
        "FROM cases c JOIN case_alerts ca ON ca.case_id = c.id JOIN alerts a ON a.id = ca.alert_id "
        "WHERE c.device_id = %s",
        (device,),
    ).fetchone()
    assert row is not None, f"no case for {device}"
    return tuple(row)


def test_a_fast_device_opens_its_case_at_hub_time_and_a_late_reading_does_not_escalate_at_once(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    where = f"hc{uuid.uuid4().hex[:6]}"
    fast, late = f"{where}-fast", f"{where}-late"
    register(conn, [{"id": d, "kind": "smoke_detector", "community": where} for d in (fast, late)])
    hub_now = datetime.now(UTC)
    fast_ts = hub_now + timedelta(minutes=5)
    late_ts = hub_now - timedelta(hours=2)

    pipeline(database_url).process([alarm(fast, fast_ts, 1), alarm(late, late_ts, 1)])
    after = datetime.now(UTC)

    for device, device_ts in ((fast, fast_ts), (late, late_ts)):
        _, created, ack_due, resolve_due, opened, recorded = case_of(conn, device)
        assert opened == device_ts, "the alert keeps the device's time as evidence"
        assert hub_now <= created <= after, f"{device}: the case opens at hub time, not {device_ts}"
        assert recorded == created
        assert ack_due == created + timedelta(minutes=2)
        assert resolve_due == created + timedelta(minutes=30)

    escalated = {e.case_id for e in escalate_breached(conn, datetime.now(UTC)) or []}
    assert case_of(conn, late)[0] not in escalated, "a late reading's case is not overdue at birth"
    assert case_of(conn, fast)[0] not in escalated
