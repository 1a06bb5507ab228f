"""What the rule engine tells the stages below it: an alert opened or cleared, and by which rule.

The records name their rule through `AlertRule`, the part of a rule that alerts and cases need, so
the store and the case stages can record them without knowing how rules are written or evaluated.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from hub.domain.devices import DeviceRef

Severity = Literal["info", "minor", "major", "critical"]
Category = Literal[
    "fire", "flood", "gas", "security", "lighting", "infrastructure", "device_health", "safety"
]
SEVERITIES: tuple[Severity, ...] = ("info", "minor", "major", "critical")
"""least urgent first"""
SEVERITY_RANK: dict[str, int] = {s: rank for rank, s in enumerate(SEVERITIES)}


class DispatchTerms(Protocol):
    @property
    def team(self) -> str: ...
    @property
    def ack_within(self) -> float: ...
    @property
    def resolve_within(self) -> float: ...


class AlertRule(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def title_zh(self) -> str | None: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def category(self) -> Category: ...
    @property
    def dispatch(self) -> DispatchTerms: ...


@dataclass(frozen=True, slots=True)
class AlertOpened:
    rule: AlertRule
    device: DeviceRef
    subject: str
    started_at: datetime
    opened_at: datetime
    explanation: dict[str, Any]
    absorbs: tuple[tuple[str, str], ...] = ()
    absorbed_into: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AlertCleared:
    rule: AlertRule
    subject: str
    cleared_at: datetime
    reason: str
    """in English, for the API and logs"""
    facts: Mapping[str, Any] = field(default_factory=dict)
    """the reason as a `code` and its values, so each reader gets it as a sentence in their language"""


Transition = AlertOpened | AlertCleared
