"""The device contract, version 1: one pydantic model per kind and channel.

Field names carry their units. Models are strict (no "12" for 12, no NaN) and refuse unknown fields,
because a silently misread sensor is worse than a dead-lettered one.
"""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

CONTRACT_VERSION = "v1"

DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""Any id a device may carry, dots included: devices registered before dots were refused still report."""
NEW_DEVICE_ID_DOT = (
    "a new device id may not contain '.': clustered brokers (RabbitMQ, NATS) turn MQTT's '/' into '.' "
    "in routing keys, so a dot splits the topic level; use '-' or '_'"
)
"""Why `hub.devices.service` refuses a dot in a device id it has not seen before."""
Percent = Annotated[float, Field(ge=0, le=100)]
Seq = Annotated[int, Field(ge=0, lt=2**63)]


class DevicePayload(BaseModel):
    """What every telemetry and event message carries: who, when (device clock), and which one."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    device_id: DeviceId
    ts: AwareDatetime = Field(description="device time of the reading, ISO 8601 with offset")
    seq: Seq = Field(description="per-device sequence number, increasing")


class _Telemetry(DevicePayload):
    rssi_dbm: Annotated[int, Field(ge=-150, le=0)] | None = None


class SmokeTelemetry(_Telemetry):
    kind: Literal["smoke_detector"] = "smoke_detector"
    smoke_obscuration_pct_per_m: Annotated[float, Field(ge=0, le=100)]
    temperature_c: Annotated[float, Field(ge=-40, le=150)]
    battery_pct: Percent
    alarm: bool
    fault: bool = False
    tamper: bool = False
    test_button: bool = False


class LamppostTelemetry(_Telemetry):
    kind: Literal["lamppost"] = "lamppost"
    lamp_on: bool
    dim_level_pct: Percent
    power_w: Annotated[float, Field(ge=0, le=5000)]
    voltage_v: Annotated[float, Field(ge=0, le=400)]
    current_a: Annotated[float, Field(ge=0, le=50)]
    pole_tilt_deg: Annotated[float, Field(ge=0, le=90)]
    cabinet_door_open: bool = False
    pm25_ug_m3: Annotated[float, Field(ge=0, le=2000)] | None = None
    noise_db: Annotated[float, Field(ge=0, le=160)] | None = None
    emergency_call: bool = False


class ManholeTelemetry(_Telemetry):
    kind: Literal["manhole"] = "manhole"
    tilt_deg: Annotated[float, Field(ge=0, le=180)]
    cover_open: bool
    water_level_cm: Annotated[float, Field(ge=0, le=2000)]
    ch4_pct_lel: Percent
    h2s_ppm: Annotated[float, Field(ge=0, le=1000)]
    battery_pct: Percent


class GateTelemetry(_Telemetry):
    """A gate's heartbeat."""

    kind: Literal["access_gate"] = "access_gate"
    door_open: bool
    uptime_s: Annotated[int, Field(ge=0)] | None = None


Telemetry = Annotated[
    SmokeTelemetry | LamppostTelemetry | ManholeTelemetry | GateTelemetry, Field(discriminator="kind")
]


class AccessEvent(DevicePayload):
    event: Literal["access"]
    result: Literal["granted", "denied"]
    method: Literal["card", "face", "qr", "pin"]
    direction: Literal["in", "out"]
    person_ref: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="card number or face id; pseudonymized before storage"
    )


class DeviceEvent(DevicePayload):
    event: Literal[
        "alarm",
        "alarm_cleared",
        "self_test",
        "tamper",
        "emergency_call",
        "cabinet_opened",
        "cover_opened",
        "cover_closed",
        "door_forced_open",
        "door_held_open",
        "door_closed",
        "tailgating",
    ]
    held_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    count: Annotated[int, Field(ge=0, le=10_000)] | None = None


Event = Annotated[AccessEvent | DeviceEvent, Field(discriminator="event")]
EVENT_ADAPTER: TypeAdapter[AccessEvent | DeviceEvent] = TypeAdapter(Event)

EVENTS_BY_KIND: dict[str, frozenset[str]] = {
    "smoke_detector": frozenset({"alarm", "alarm_cleared", "self_test", "tamper"}),
    "lamppost": frozenset({"emergency_call", "cabinet_opened"}),
    "manhole": frozenset({"cover_opened", "cover_closed", "tamper"}),
    "access_gate": frozenset(
        {"access", "door_forced_open", "door_held_open", "door_closed", "tailgating", "tamper"}
    ),
}


class Status(BaseModel):
    """Retained online/offline status; the broker publishes the offline one as the device's Last Will."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    state: Literal["online", "offline"]
    ts: AwareDatetime | None = None


_ENVELOPE = frozenset({"device_id", "ts", "seq", "kind"})
TELEMETRY_FIELDS: dict[str, frozenset[str]] = {
    model.model_fields["kind"].default: frozenset(model.model_fields) - _ENVELOPE
    for model in (SmokeTelemetry, LamppostTelemetry, ManholeTelemetry, GateTelemetry)
}

EVENT_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset({"event", "held_s", "count"})
    | (frozenset({"result", "method", "direction"}) if kind == "access_gate" else frozenset())
    for kind in EVENTS_BY_KIND
}
