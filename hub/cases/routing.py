"""Which team receives a new case. Pure: the routing table comes from config/routing.yaml.

Order: the first routing rule whose match fits the case; else, for an alert, the team named in the
alert rule's `dispatch.team`; else the default team. Routing rules therefore override the rule files,
and the rule files fill in what the routing table leaves open.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
TeamName = Annotated[str, Field(pattern=TEAM_PATTERN)]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


OneOrMore = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


@dataclass(frozen=True)
class CaseFacts:
    category: str
    community: str
    building: str | None
    grid: str | None
    source: str


class Match(BaseModel):
    """Every key given must fit (a value or a list of values); a key left out matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: OneOrMore | None = None
    community: OneOrMore | None = None
    building: OneOrMore | None = None
    grid: OneOrMore | None = None
    source: OneOrMore | None = None

    def fits(self, facts: CaseFacts) -> bool:
        wanted = (
            (self.category, facts.category),
            (self.community, facts.community),
            (self.building, facts.building),
            (self.grid, facts.grid),
            (self.source, facts.source),
        )
        return all(values is None or value in values for values, value in wanted)


class RouteRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, description="shown in the case history as the reason")
    match: Match
    team: TeamName


@dataclass(frozen=True)
class Routed:
    team: str
    kind: Literal["route", "rule", "default"]
    """a routing rule matched, the alert rule's own team, or the default team"""
    name: str | None = None
    """the routing rule's name (or its number in the file)"""

    @property
    def reason(self) -> str:
        if self.kind == "route":
            return f"routing rule {self.name}"
        return "the alert rule's team" if self.kind == "rule" else "the default team"


def route(
    rules: Sequence[RouteRule], facts: CaseFacts, *, rule_team: str | None, default_team: str
) -> Routed:
    for number, rule in enumerate(rules, start=1):
        if rule.match.fits(facts):
            return Routed(rule.team, "route", rule.name or str(number))
    if rule_team:
        return Routed(rule_team, "rule")
    return Routed(default_team, "default")
