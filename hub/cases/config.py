"""The dispatch configuration (`config/routing.yaml`): routing rules, the default team, SLA targets for
resident and operator cases, the severity a resident's report starts with, the working calendar, what
closing a case needs (verification), when a report and an alert are one problem (merge), which
alerts of devices behind a down parent are folded into its case (topology), and when many alerts of one
place are one storm or one communication outage (storms).

It is read again when the file changes, and a file that does not load never replaces a good one, so a
typo during operations leaves dispatch running on the last good table (and says so in the log).
"""

import logging
import threading
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.cases.calendar import WorkCalendar
from hub.cases.routing import OneOrMore, RouteRule, TeamName
from hub.cases.sla import SlaRule
from hub.domain.alerts import Severity
from hub.domain.storms import Scope
from hub.engine.schema import Seconds

log = logging.getLogger(__name__)

ReportCategory = Literal[
    "fire",
    "flood",
    "gas",
    "security",
    "lighting",
    "infrastructure",
    "device_health",
    "safety",
    "noise",
    "sanitation",
    "other",
]


class VerificationRule(BaseModel):
    """What closing a case of a category needs, besides a resolution note (always needed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: OneOrMore | None = None
    normal_for: Seconds = Field(
        default=900.0, description="every alert of the case cleared at least this long ago"
    )
    photo: bool = Field(
        default=False,
        description="evidence of the finished work attached by the handler: a photo, or a note alone",
    )
    on_site: bool = Field(default=False, description="a supervisor's confirm_on_site recorded")
    resolver_may_confirm: bool = Field(
        default=False,
        description="with on_site: the person who resolved the case may also confirm it on site "
        "(by default another admin or operator must)",
    )

    @model_validator(mode="after")
    def _confirming_needs_on_site(self) -> "VerificationRule":
        if self.resolver_may_confirm and not self.on_site:
            raise ValueError(
                "resolver_may_confirm says who may confirm on site: set on_site: true as well, or leave it out"
            )
        return self

    @property
    def catch_all(self) -> bool:
        return self.category is None


class MergeConfig(BaseModel):
    """A resident's report and a sensor alert about the same place within `window` are one problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto: bool = True
    window: Seconds = Field(default=7200.0, gt=0)


class TopologyConfig(BaseModel):
    """A parent device (a gateway, a lamp feeder cabinet) is down when it is offline or has an open
    alert of `down_categories`; its children's alerts of `suppress_categories` then go into its case,
    and so do the cases its children opened just before (`fold_within`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    down_categories: list[str] = Field(default_factory=lambda: ["device_health", "infrastructure"])
    suppress_categories: list[str] = Field(
        default_factory=lambda: ["device_health", "infrastructure", "lighting"],
        description="life-safety categories (fire, gas, safety) are never suppressed unless listed",
    )
    team: TeamName | None = Field(
        default=None, description="team of a parent's case opened for its children; routing otherwise"
    )
    fold_within: Seconds = Field(
        default=300.0,
        description="children's untouched cases opened at most this long before their parent went down "
        "are folded into its case (their alerts raced the parent's outage)",
    )


class OutageConfig(BaseModel):
    """Many devices of one place falling silent together is one problem (a power cut, a broken uplink):
    while at least `min_devices` and `share` of the place's registered devices have an open alert of one
    absence rule, each opened within `window`, they go into one communication-outage case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope = "community"
    share: float = Field(default=0.5, gt=0, le=1)
    min_devices: int = Field(default=10, ge=2)
    window: Seconds = Field(default=600.0, gt=0)
    stragglers_after: Seconds = Field(
        default=900.0,
        description="once the silent devices left are too few to be an outage, those still silent this "
        "long after the last one came back get cases of their own",
    )


class StormConfig(BaseModel):
    """More than `max_cases` new cases of one rule in one place within `window` are one storm: the next
    alert opens a storm case that takes in the untouched ones and every alert of the rule there after
    it, so an operator sees one line with a count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope = "grid"
    max_cases: int = Field(default=5, ge=1)
    window: Seconds = Field(default=600.0, gt=0)
    never_fold: list[str] = Field(
        default_factory=lambda: ["fire", "gas", "safety"],
        description="categories whose every alert gets a case of its own, storm or not",
    )
    outage: OutageConfig = Field(default_factory=OutageConfig)


CalendarName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class DispatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_team: TeamName = "duty-desk"
    routes: list[RouteRule] = Field(default_factory=list, description="first match wins")
    sla: list[SlaRule] = Field(
        default_factory=lambda: [SlaRule(ack_within=3600.0, resolve_within=3 * 86400.0)],
        description="first match wins; the last rule must match everything",
    )
    report_severity: dict[ReportCategory, Severity] = Field(
        default_factory=dict, description="severity of a resident's report by category; minor otherwise"
    )
    calendar: WorkCalendar = Field(default_factory=WorkCalendar)
    calendars: dict[CalendarName, WorkCalendar] = Field(
        default_factory=dict,
        description="named working calendars a community may follow instead of `calendar`",
    )
    verification: list[VerificationRule] = Field(
        default_factory=lambda: [VerificationRule()],
        description="first match wins; the last rule must match everything",
    )
    merge: MergeConfig = Field(default_factory=MergeConfig)
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    storms: StormConfig = Field(default_factory=StormConfig)

    @field_validator("verification")
    @classmethod
    def _verification_ends_with_catch_all(cls, rules: list[VerificationRule]) -> list[VerificationRule]:
        if not rules or not rules[-1].catch_all:
            raise ValueError("the last verification rule must have no category (it catches the rest)")
        return rules

    def verification_for(self, category: str) -> VerificationRule:
        return next(r for r in self.verification if r.category is None or category in r.category)

    @field_validator("sla")
    @classmethod
    def _ends_with_catch_all(cls, rules: list[SlaRule]) -> list[SlaRule]:
        """Every case must get deadlines, so an unmatched category is a configuration error at load."""
        if not rules or not rules[-1].catch_all:
            raise ValueError(
                "the last SLA rule must have neither category nor severity (it catches the rest)"
            )
        return rules

    def report_severity_of(self, category: ReportCategory) -> Severity:
        return self.report_severity.get(category, "minor")

    def calendar_for(self, name: str | None) -> WorkCalendar:
        """A community's working calendar: the one it names; `calendar` when it names none, or a name
        the file no longer has (the admin console shows that community's reference as unknown)."""
        return self.calendars.get(name, self.calendar) if name else self.calendar

    def teams(self) -> set[str]:
        """The teams this file sends cases to."""
        named = {self.default_team, *(r.team for r in self.routes)}
        return named | {self.topology.team} if self.topology.team else named


class DispatchConfigError(ValueError):
    pass


def load(path: Path) -> DispatchConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DispatchConfigError(f"{path}: cannot read YAML: {exc}") from None
    try:
        return DispatchConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise DispatchConfigError(f"{path}: {problems}") from None


_lock = threading.Lock()
_loaded: dict[Path, tuple[int | None, DispatchConfig]] = {}


def current(path: Path) -> DispatchConfig:
    """The configuration in force for `path`, reloaded when the file's modification time changes."""
    try:
        stamp: int | None = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    with _lock:
        previous = _loaded.get(path)
        if previous is not None and previous[0] == stamp:
            return previous[1]
        if stamp is None:
            log.warning(
                "no routing file at %s: cases go to their alert rule's team or the default team", path
            )
            config = DispatchConfig()
        else:
            try:
                config = load(path)
            except DispatchConfigError as exc:
                log.error("%s; dispatch keeps the previous configuration", exc)
                config = previous[1] if previous is not None else DispatchConfig()
        _loaded[path] = (stamp, config)
        return config
