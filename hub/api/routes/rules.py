"""The rules in force, their reload and backtests, and rule files edited through the API: read and
checked by admins and operators, saved and restored by admins."""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, CurrentUser, require
from hub.api.params import BIGINT_MAX
from hub.domain.roles import VERIFIERS, Role
from hub.domain.users import User
from hub.ingest.rules import RuleSet
from hub.services import rules as rule_service

router = APIRouter(tags=["rules"])
MAX_RANGE = timedelta(days=31)
MAX_READINGS = 2_000_000
MAX_FILE_CHARS = 256 * 1024
Reader = Annotated[User, Depends(require(*VERIFIERS))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
FileName = Annotated[str, Path(pattern=rule_service.FILE_NAME, examples=["smoke.yaml"])]
VersionId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


def rule_set(request: Request) -> RuleSet:
    rules: RuleSet | None = request.app.state.rule_set
    if rules is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this process runs no rule engine")
    return rules


RuleSetDep = Annotated[RuleSet, Depends(rule_set)]


class RuleOut(BaseModel):
    id: str
    version: str = Field(description="a hash of the rule's content, recorded on every alert it raises")
    type: str
    title: str
    title_zh: str | None
    file: str | None = Field(description="the rule file it comes from, inside the rules directory")
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
    file_of = {r.id: name for name, in_file in rules.files.items() for r in in_file}
    return RulesOut(
        rules=[
            RuleOut(
                id=r.id,
                version=r.version,
                type=r.type,
                title=r.title,
                title_zh=r.title_zh,
                file=file_of.get(r.id),
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


class Period(BaseModel):
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    devices: list[str] | None = None

    @model_validator(mode="after")
    def _sane_range(self) -> "Period":
        if self.end <= self.start:
            raise ValueError("`to` must be after `from`")
        if self.end - self.start > MAX_RANGE:
            raise ValueError(f"a backtest covers at most {MAX_RANGE.days} days; narrow `from`/`to`")
        return self


class BacktestIn(Period):
    rules_yaml: str | None = Field(
        default=None, description="a rule file's text to try; default: the rules in force"
    )
    rule_ids: list[str] | None = Field(default=None, description="limit to these rules")


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


# -- rule files ---------------------------------------------------------------------------------------


class RuleSummary(BaseModel):
    id: str
    version: str
    type: str
    title: str
    title_zh: str | None
    severity: str
    category: str
    kinds: list[str]


class VersionOut(BaseModel):
    id: int
    file_name: str
    content_hash: str
    source: Literal["shipped", "saved", "restored"] = Field(
        description="shipped: the file as it was before its first save; restored: an older version saved again"
    )
    restored_from: int | None
    saved_by: str
    saved_at: datetime
    check_result: dict[str, Any] = Field(
        description="`ok`, `errors` and the file's `rules` when it was saved"
    )


class VersionContent(VersionOut):
    content: str


class FileInForce(BaseModel):
    name: str
    hash: str | None = Field(description="content hash of the file in force on this worker")
    editable: bool = Field(description="false for a file in a subdirectory, which the API does not write")
    rules: list[RuleSummary]
    saved: VersionOut | None = Field(description="its latest saved version; null: as shipped")


class WorkerRules(BaseModel):
    worker_id: str
    files: dict[str, str] = Field(description="file name → content hash in force")
    rule_count: int
    errors: list[ReloadError] = Field(description="of its last reload, which kept the rules before it")
    loaded_at: datetime
    seen_at: datetime
    alive: bool = Field(description="seen in the last 30 s")
    behind: list[str] = Field(description="saved files whose latest version it does not run yet")


class FilesOut(BaseModel):
    files: list[FileInForce]
    last_reload_errors: list[ReloadError]
    workers: list[WorkerRules] = Field(description="every hub worker seen in the last hour")


class FileOut(BaseModel):
    name: str
    content: str = Field(description="its latest saved version, else the file as shipped")
    hash: str = Field(description="send back as `base_hash` when saving")
    in_force_hash: str | None
    editable: bool
    history: list[VersionOut] = Field(description="saved versions, newest first")


class ContentIn(BaseModel):
    content: str = Field(max_length=MAX_FILE_CHARS, description="the whole rule file (YAML)")


class SaveIn(ContentIn):
    base_hash: str | None = Field(
        max_length=64, description="`hash` of the file as the editor opened it; null for a new file"
    )


class RestoreIn(BaseModel):
    base_hash: str | None = Field(max_length=64, description="`hash` of the file as it stands")


class CheckOut(BaseModel):
    ok: bool
    errors: list[ReloadError] = Field(description="as `hub rules check` prints them: file, rule, field")
    rules: list[RuleSummary] = Field(description="the file's rules, when it loads")


class FileBacktestIn(ContentIn, Period):
    pass


class FileBacktestOut(BacktestOut):
    rules: list[RuleSummary]


@router.get("/rules/files", response_model=FilesOut)
def list_rule_files(conn: Conn, rules: RuleSetDep, _user: Reader) -> dict[str, Any]:
    """The files in force on this worker with their rules and latest saved version, and the rules
    every worker has in force."""
    return rule_service.files(conn, rules)


@router.get("/rules/files/{name}", response_model=FileOut)
def get_rule_file(name: FileName, conn: Conn, rules: RuleSetDep, _user: Reader) -> dict[str, Any]:
    return rule_service.file(conn, rules, name)


@router.get("/rules/files/{name}/versions/{version_id}", response_model=VersionContent)
def get_rule_file_version(name: FileName, version_id: VersionId, conn: Conn, _user: Reader) -> dict[str, Any]:
    return rule_service.version(conn, name, version_id)


@router.post("/rules/files/{name}/check", response_model=CheckOut)
def check_rule_file(
    name: FileName, body: ContentIn, conn: Conn, rules: RuleSetDep, _user: Reader
) -> dict[str, Any]:
    """Check the rule set as it would be with this file's new text, like `hub rules check`; nothing
    is saved."""
    return rule_service.check(conn, rules, name, body.content)


@router.post("/rules/files/{name}/backtest", response_model=FileBacktestOut)
def backtest_rule_file(
    name: FileName, body: FileBacktestIn, conn: Conn, rules: RuleSetDep, _user: Reader
) -> dict[str, Any]:
    """Replay stored data through the file's new rules and compare, per rule, with what the live rules
    of the same ids raised; a file that fails its check is refused (422)."""
    return rule_service.backtest_file(
        conn,
        rules,
        name,
        body.content,
        start=body.start,
        end=body.end,
        devices=body.devices,
        max_readings=MAX_READINGS,
    )


@router.put("/rules/files/{name}", response_model=VersionOut)
def save_rule_file(
    name: FileName,
    audit: Annotated[Audit, audited("rule_file.save", "rule_file", "name")],
    body: SaveIn,
    conn: Conn,
    rules: RuleSetDep,
    user: Admin,
) -> dict[str, Any]:
    """Save a rule file: checked among the others (422 names file, rule and field, and the running
    rules stay), recorded as a new version, written and reloaded here; other workers follow within
    seconds. 409 when it changed since `base_hash`."""
    saved = rule_service.save(conn, user, rules, name, body.content, base_hash=body.base_hash)
    audit.details.update(version=saved["id"], hash=saved["content_hash"][:12])
    return saved


@router.post("/rules/files/{name}/versions/{version_id}/restore", response_model=VersionOut)
def restore_rule_file(
    name: FileName,
    version_id: VersionId,
    audit: Annotated[Audit, audited("rule_file.restore", "rule_file", "name")],
    body: RestoreIn,
    conn: Conn,
    rules: RuleSetDep,
    user: Admin,
) -> dict[str, Any]:
    """Save an earlier version's content again, checked and recorded like any save."""
    audit.details["restored_from"] = version_id
    saved = rule_service.restore(conn, user, rules, name, version_id, body.base_hash)
    audit.details.update(version=saved["id"], hash=saved["content_hash"][:12])
    return saved
