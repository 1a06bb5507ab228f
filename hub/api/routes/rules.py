from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from hub.api.deps import Conn, CurrentUser, require
from hub.domain.roles import Role
from hub.domain.users import User
from hub.ingest.rules import RuleSet
from hub.services import rules as rule_service

router = APIRouter(tags=["rules"])
MAX_RANGE = timedelta(days=31)
MAX_READINGS = 2_000_000


def rule_set(request: Request) -> RuleSet:
    rules: RuleSet | None = request.app.state.rule_set
    if rules is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this process runs no rule engine")
    return rules


RuleSetDep = Annotated[RuleSet, Depends(rule_set)]


class RuleOut(BaseModel):
    id: str
    version: str
    type: str
    title: str
    kinds: list[str]
    severity: str
    category: str
    definition: dict[str, Any]


class ReloadError(BaseModel):
    file: str
    rule: str
    field: str
    message: str


class RulesOut(BaseModel):
    rules: list[RuleOut]
    last_reload_errors: list[ReloadError]


def _out(rules: RuleSet) -> RulesOut:
    return RulesOut(
        rules=[
            RuleOut(
                id=r.id,
                version=r.version,
                type=r.type,
                title=r.title,
                kinds=list(r.kinds),
                severity=r.severity,
                category=r.category,
                definition=r.model_dump(mode="json", by_alias=True),
            )
            for r in rules.rules
        ],
        last_reload_errors=[ReloadError(**e.__dict__) for e in rules.last_errors],
    )


@router.get("/rules", response_model=RulesOut)
def list_rules(rules: RuleSetDep, _user: CurrentUser) -> RulesOut:
    return _out(rules)


@router.post("/rules/reload", response_model=RulesOut)
def reload_rules(
    rules: RuleSetDep, _user: Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR))]
) -> RulesOut:
    """Read the rule files again. A bad file is refused with file, rule and field named (422), and the
    rules in force stay as they were."""
    errors = rules.reload()
    if errors:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "rule files rejected; the running rules stay in force: " + "; ".join(map(str, errors)),
        )
    return _out(rules)


class BacktestIn(BaseModel):
    rules_yaml: str | None = Field(
        default=None, description="a rule file's text to try; default: the rules in force"
    )
    rule_ids: list[str] | None = Field(default=None, description="limit to these rules")
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    devices: list[str] | None = None

    @model_validator(mode="after")
    def _sane_range(self) -> "BacktestIn":
        if self.end <= self.start:
            raise ValueError("`to` must be after `from`")
        if self.end - self.start > MAX_RANGE:
            raise ValueError(f"a backtest covers at most {MAX_RANGE.days} days; narrow `from`/`to`")
        return self


class BacktestOut(BaseModel):
    readings: int
    by_rule: dict[str, dict[str, int]]
    alerts: list[dict[str, Any]]


@router.post("/rules/backtest", response_model=BacktestOut)
def run_backtest(
    body: BacktestIn,
    conn: Conn,
    rules: RuleSetDep,
    _user: Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR))],
) -> BacktestOut:
    """Replay stored data through rules (new, changed or in force) without dispatching anything, and
    compare alert for alert with what the live rules raised."""
    chosen = rule_service.chosen(rules.rules, rules_yaml=body.rules_yaml, rule_ids=body.rule_ids)
    report = rule_service.backtest(
        conn, chosen, start=body.start, end=body.end, devices=body.devices, max_readings=MAX_READINGS
    )
    return BacktestOut(readings=report.readings, by_rule=report.by_rule, alerts=report.alerts)
