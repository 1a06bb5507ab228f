"""The rule file format, validated with pydantic so a bad file names its rule and field."""

import hashlib
import json
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from hub.domain.contract import TELEMETRY_FIELDS
from hub.domain.devices import DeviceKind
from hub.engine.expr import ExprError, compile_expr

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _parse_duration(value: object) -> object:
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"duration {value!r} must look like 30s, 10m, 2h or 1d")
        return float(m.group(1)) * _UNIT_S[m.group(2)]
    return value


def _metrics_of(kinds: list[DeviceKind]) -> frozenset[str]:
    return frozenset().union(*(TELEMETRY_FIELDS[k] for k in kinds))


Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0, le=30 * 86400)]
Severity = Literal["info", "minor", "major", "critical"]
Category = Literal[
    "fire", "flood", "gas", "security", "lighting", "infrastructure", "device_health", "safety"
]


class Dispatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str = Field(description="team or routing key that receives the case")
    ack_within: Seconds = Field(default=900.0, description="time to acknowledge")
    resolve_within: Seconds = Field(default=86400.0, description="time to resolve")


class ThresholdRule(BaseModel):
    """A condition that must hold `for` a while to open, and a clear condition that must hold
    `clear_for` a while to clear, so flapping readings make one alert, not fifty."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["threshold"] = "threshold"
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    title: str = Field(min_length=1, max_length=200)
    kinds: list[DeviceKind] = Field(min_length=1)
    devices: list[str] | None = Field(default=None, description="limit to these device ids")
    severity: Severity
    category: Category
    when: str = Field(description="condition expression over the kind's metrics")
    hold: Seconds = Field(default=0.0, alias="for", description="how long `when` must hold")
    clear_when: str | None = Field(default=None, description="defaults to `not (when)`")
    clear_for: Seconds = 0.0
    dispatch: Dispatch

    @field_validator("when", "clear_when")
    @classmethod
    def _expression_compiles(cls, text: str | None, info: ValidationInfo) -> str | None:
        """Checked against the metrics of the rule's own kinds, so a typo fails at load, not at 3 a.m."""
        kinds = info.data.get("kinds")
        if text is not None and kinds:
            try:
                compile_expr(text, _metrics_of(kinds))
            except ExprError as exc:
                raise ValueError(str(exc)) from None
        return text

    def metric_names(self) -> frozenset[str]:
        return _metrics_of(self.kinds)

    @property
    def version(self) -> str:
        """A hash of the rule's content, recorded on every alert it raises."""
        body = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]


Rule = Annotated[ThresholdRule, Field(discriminator="type")]


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]
