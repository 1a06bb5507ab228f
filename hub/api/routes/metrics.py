"""Ingest counters in the Prometheus text exposition format (version 0.0.4), written by hand: the
format is a few lines per metric and not worth a dependency."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import PlainTextResponse

from hub.api import reads
from hub.api.deps import Conn, require
from hub.domain.roles import Role
from hub.domain.users import User
from hub.ingest.metrics import IngestMetrics
from hub.services import health as health_service

router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Kind = Literal["counter", "gauge"]
Sample = tuple[dict[str, str], float]

_EXAMPLE = """\
# HELP hub_ingest_messages_received_total MQTT messages taken from the broker.
# TYPE hub_ingest_messages_received_total counter
hub_ingest_messages_received_total 1042
# HELP hub_ingest_messages_dead_lettered_total Messages refused and written to dead_letters, by reason.
# TYPE hub_ingest_messages_dead_lettered_total counter
hub_ingest_messages_dead_lettered_total{reason="invalid"} 3
# HELP hub_ingest_queue_depth Messages waiting in the in-memory queue after the last batch was taken.
# TYPE hub_ingest_queue_depth gauge
hub_ingest_queue_depth 0
"""


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": _EXAMPLE}}},
        404: {"description": "this process runs no ingest"},
    },
)
def get_metrics(
    request: Request, conn: Conn, _user: Annotated[User, Depends(require(Role.ADMIN, Role.INTEGRATION))]
) -> PlainTextResponse:
    """Ingest, alert and database counters for Prometheus; counters count since the hub started. The
    new alerts and cases per community over the last 10 minutes come from the database, so every
    worker reports the same."""
    metrics: IngestMetrics | None = request.app.state.metrics
    if metrics is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this process runs no ingest, so it has no metrics")
    floods = health_service.flood_rates(conn, datetime.now(UTC))["communities"]
    standby = reads.health(request.app.state.standby, conn)
    return PlainTextResponse(render(metrics, floods, standby), media_type=CONTENT_TYPE)


def render(m: IngestMetrics, floods: list[dict[str, Any]], standby: dict[str, Any] | None) -> str:
    """One snapshot: the pipeline thread keeps counting while this runs, so the reasons are copied first.
    `floods` are the communities' new alerts and cases over the last 10 minutes; `standby` the state of
    the read standby, if one is configured."""
    reasons = dict(m.dead_letter_reasons)
    batches = m.batches
    families: list[tuple[str, Kind, str, list[Sample]]] = [
        (
            "hub_ingest_messages_received_total",
            "counter",
            "MQTT messages taken from the broker.",
            [({}, m.received)],
        ),
        (
            "hub_ingest_messages_stored_total",
            "counter",
            "Readings and events stored for the first time.",
            [({}, m.stored)],
        ),
        (
            "hub_ingest_messages_dead_lettered_total",
            "counter",
            "Messages refused and written to dead_letters, by reason.",
            [({"reason": r}, n) for r, n in sorted(reasons.items())],
        ),
        (
            "hub_ingest_duplicates_dropped_total",
            "counter",
            "Valid messages already stored (redeliveries, duplicates), not stored again.",
            [({}, m.duplicates)],
        ),
        ("hub_ingest_batches_total", "counter", "Batches committed.", [({}, batches)]),
        (
            "hub_ingest_commit_seconds_total",
            "counter",
            "Time spent committing batches; divide its rate by the batches' rate for a recent mean.",
            [({}, m.commit_seconds_sum)],
        ),
        ("hub_alerts_opened_total", "counter", "Alerts opened by the rule engine.", [({}, m.alerts_opened)]),
        (
            "hub_alerts_cleared_total",
            "counter",
            "Alerts cleared by the rule engine.",
            [({}, m.alerts_cleared)],
        ),
        (
            "hub_ingest_db_errors_total",
            "counter",
            "Failed batch writes (each one is retried).",
            [({}, m.db_errors)],
        ),
        (
            "hub_ingest_db_connects_total",
            "counter",
            "Database connections the ingest pipeline opened, the first included; a rise is a reconnect.",
            [({}, m.db_reconnects)],
        ),
        (
            "hub_ingest_broker_connects_total",
            "counter",
            "Connections to the MQTT broker, the first included; a rise is a reconnect.",
            [({}, m.broker_connects)],
        ),
        (
            "hub_ingest_queue_depth",
            "gauge",
            "Messages waiting in the in-memory queue after the last batch was taken.",
            [({}, m.queue_depth)],
        ),
        (
            "hub_ingest_batch_size_avg",
            "gauge",
            "Mean messages per batch since start (0 before the first batch).",
            [({}, m.batch_rows_sum / batches if batches else 0)],
        ),
        (
            "hub_ingest_commit_seconds_avg",
            "gauge",
            "Mean time to commit a batch since start (0 before the first batch).",
            [({}, m.commit_seconds_sum / batches if batches else 0)],
        ),
        (
            "hub_ingest_commit_seconds_max",
            "gauge",
            "Longest time to commit a batch since start.",
            [({}, m.commit_seconds_max)],
        ),
        (
            "hub_alerts_opened_10m",
            "gauge",
            "Alerts opened in the last 10 minutes, by community; more than 10 is a flood (ISA-18.2).",
            [({"community": f["community"]}, f["alerts"]) for f in floods],
        ),
        (
            "hub_cases_opened_10m",
            "gauge",
            "Cases opened in the last 10 minutes, by community; more than 10 is a flood (ISA-18.2).",
            [({"community": f["community"]}, f["cases"]) for f in floods],
        ),
    ]
    if standby is not None:
        families += _standby_families(standby)
    lines = []
    for name, kind, text, samples in families:
        lines += [f"# HELP {name} {_escape_help(text)}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(labels)} {value}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _standby_families(standby: dict[str, Any]) -> list[tuple[str, Kind, str, list[Sample]]]:
    """The standby's lag is left out while it is down: there is none to measure."""

    def measured(key: str) -> list[Sample]:
        return [] if standby[key] is None else [({}, standby[key])]

    return [
        (
            "hub_db_standby_up",
            "gauge",
            "1 while the read standby gives connections; 0: the read-heavy routes read on the primary.",
            [({}, 1 if standby["up"] else 0)],
        ),
        (
            "hub_db_standby_replay_lag_seconds",
            "gauge",
            "Age of the last transaction the standby replayed; 0 when it has replayed all it received.",
            measured("replay_lag_s"),
        ),
        (
            "hub_db_standby_behind_bytes",
            "gauge",
            "Write-ahead log on the primary not yet replayed on the standby.",
            measured("behind_bytes"),
        ),
    ]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items()) + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return _escape_help(value).replace('"', '\\"')
