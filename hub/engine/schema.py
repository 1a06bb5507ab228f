"""The rule file format, validated with pydantic so a bad file names its rule and field.

Six rule kinds share one header (id, title, kinds, severity, category, dispatch, optional `active`
schedule): threshold, absence, count, rate, correlation. Expressions are checked at load time against
the fields of the rule's device kinds and source (telemetry or event).
"""

import hashlib
import json
import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from hub.domain.alerts import Category, Severity
from hub.domain.contract import EVENT_FIELDS, TELEMETRY_FIELDS
from hub.domain.devices import DeviceKind
from hub.domain.zones import TimeZoneName
from hub.engine.expr import ExprError, compile_expr

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_duration(value: object) -> object:
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"duration {value!r} must look like 30s, 10m, 2h or 1d")
        return float(m.group(1)) * _UNIT_S[m.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0, le=30 * 86400)]
Source = Literal["telemetry", "event"]


def names_for(kinds: list[DeviceKind], source: Source) -> frozenset[str]:
    """The variables an expression may use: the fields the rule's kinds send on its source."""
    table = TELEMETRY_FIELDS if source == "telemetry" else EVENT_FIELDS
    return frozenset().union(*(table[k] for k in kinds))


class Dispatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str = Field(description="team or routing key that receives the case")
    ack_within: Seconds = Field(default=900.0, description="time to acknowledge")
    resolve_within: Seconds = Field(default=86400.0, description="time to resolve")


class Active(BaseModel):
    """When a rule may open alerts, in local time: `hours: "19:00-05:00"` wraps past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: str | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    timezone: TimeZoneName = "Asia/Shanghai"

    @field_validator("hours")
    @classmethod
    def _hours_form(cls, v: str | None) -> str | None:
        if v is not None:
            m = _HOURS.match(v)
            if (
                not m
                or int(m.group(1)) > 23
                or int(m.group(3)) > 24
                or int(m.group(2)) > 59
                or int(m.group(4)) > 59
            ):
                raise ValueError(f"hours {v!r} must look like 19:00-05:00")
        return v

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if self.days is not None and _DAYS[local.weekday()] not in self.days:
            return False
        if self.hours is None:
            return True
        m = _HOURS.match(self.hours)
        assert m is not None
        start = time(int(m.group(1)), int(m.group(2)))
        end = time(int(m.group(3)) % 24, int(m.group(4)))
        now = local.time()
        return start <= now < end if start < end else now >= start or now < end


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    title: str = Field(min_length=1, max_length=200)
    title_zh: str | None = Field(
        default=None, min_length=1, max_length=200, description="the title in Chinese"
    )
    kinds: list[DeviceKind] = Field(min_length=1)
    devices: list[str] | None = Field(default=None, description="limit to these device ids")
    severity: Severity
    category: Category
    dispatch: Dispatch
    active: Active | None = Field(default=None, description="only open alerts inside this schedule")

    @property
    def version(self) -> str:
        """A hash of the rule's content, recorded on every alert it raises."""
        body = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]


def _check_expr(text: str | None, info: ValidationInfo, source: Source = "telemetry") -> str | None:
    kinds = info.data.get("kinds")
    src = info.data.get("source", source)
    if text is not None and kinds:
        try:
            compile_expr(text, names_for(kinds, src))
        except ExprError as exc:
            raise ValueError(str(exc)) from None
    return text


class ThresholdRule(_Rule):
    """A condition that must hold `for` a while to open, and a clear condition that must hold
    `clear_for` a while to clear, so flapping readings make one alert, not fifty."""

    type: Literal["threshold"]
    source: Source = "telemetry"
    when: str = Field(description="condition over the kind's fields")
    hold: Seconds = Field(default=0.0, alias="for", description="how long `when` must hold")
    clear_when: str | None = Field(default=None, description="defaults to `not (when)`")
    clear_for: Seconds = 0.0

    @field_validator("when", "clear_when")
    @classmethod
    def _expression_compiles(cls, text: str | None, info: ValidationInfo) -> str | None:
        return _check_expr(text, info)


class AbsenceRule(_Rule):
    """Nothing heard from a device (or nothing matching `where`, e.g. heartbeats) for `period`."""

    type: Literal["absence"]
    source: Source | Literal["any"] = "any"
    where: str | None = None
    period: Seconds = Field(gt=0)

    @field_validator("where")
    @classmethod
    def _expression_compiles(cls, text: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("source") == "any" and text is not None:
            raise ValueError("`where` needs `source: telemetry` or `source: event`")
        return _check_expr(text, info)


class CountRule(_Rule):
    """At least `threshold` messages matching `where` from one device within `window`."""

    type: Literal["count"]
    source: Source = "event"
    where: str
    threshold: int = Field(ge=1, le=100_000)
    window: Seconds = Field(gt=0)

    @field_validator("where")
    @classmethod
    def _expression_compiles(cls, text: str | None, info: ValidationInfo) -> str | None:
        return _check_expr(text, info)


class RateRule(_Rule):
    """A metric rising (or falling, with a negative `change`) by more than `change` within `window`."""

    type: Literal["rate"]
    metric: str
    change: float = Field(description="rise (positive) or fall (negative) that opens the alert")
    window: Seconds = Field(gt=0)
    clear_change: float | None = Field(default=None, description="defaults to half of `change`")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, m: str, info: ValidationInfo) -> str:
        kinds = info.data.get("kinds")
        if kinds and m not in names_for(kinds, "telemetry"):
            raise ValueError(
                f"unknown metric {m!r}; known: {', '.join(sorted(names_for(kinds, 'telemetry')))}"
            )
        return m

    @field_validator("change")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("change must not be 0")
        return v


class CorrelationRule(_Rule):
    """`min_subjects` devices raising rule `of` in one building (grid, community) within `within`
    raise one alert of this rule, which absorbs the single ones into its case."""

    type: Literal["correlation"]
    of: list[str] = Field(min_length=1, description="rule ids whose alerts are correlated")
    group_by: Literal["building", "grid", "community"] = "building"
    min_subjects: int = Field(default=2, ge=2, le=10_000)
    within: Seconds = Field(gt=0)


Rule = Annotated[
    ThresholdRule | AbsenceRule | CountRule | RateRule | CorrelationRule, Field(discriminator="type")
]


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]
