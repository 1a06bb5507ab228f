"""Cases: list, read, report, claim, act, the closure checklist, evidence, merge, split, reporters'
comments and withdrawals, rate, attachments."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.api import retries
from hub.api.audit import Audit, audited
from hub.api.deps import Conn, CurrentUser, Dispatch, require
from hub.api.params import IdempotencyKey
from hub.cases import config
from hub.cases.actions import Action, ActionRequest, HoldAction
from hub.cases.routing import TeamName
from hub.domain.alerts import Severity
from hub.domain.calls import CallAnswer
from hub.domain.cases import CaseStatus
from hub.domain.organisations import ORGANISATION_PATTERN
from hub.domain.roles import HANDLERS, VERIFIERS, Role
from hub.domain.users import User
from hub.services import cases as case_service

router = APIRouter(tags=["cases"])
MAX_OFFSET = 10_000_000  # PostgreSQL's OFFSET is a bigint; far beyond any case list, far below its limit


class CaseOut(BaseModel):
    id: int
    title: str
    title_zh: str | None = Field(
        description="the hub's Chinese title (a rule's); null for people's own titles"
    )
    category: str
    severity: str
    status: str
    source: str
    subject: str
    community_id: str
    building: str | None
    grid: str | None
    device_id: str | None
    team: str | None
    organisation: str | None = Field(description="the organisation that owns the case's team")
    created_at: datetime
    updated_at: datetime
    description: str | None
    reporter_id: int | None
    assignee: str | None
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    cancel_reason: str | None
    escalation_level: Literal["team", "supervisor", "street_office"]
    rework_count: int = Field(description="how often a verifier rejected the resolution (reopen)")
    suspended_at: datetime | None = Field(description="set while a suspension is in force")
    ack_clock: Literal["calendar", "working"]
    resolve_clock: Literal["calendar", "working"]
    alarm_active: bool = Field(
        description="an alert linked to the case is still open (its condition persists)"
    )


class CaseEnd(BaseModel):
    move: Literal["cancel", "withdraw", "merge", "absorb", "fold"]
    at: datetime
    actor: str
    into: int | None = Field(description="merge, absorb, fold: the case it went into")
    parent: str | None = Field(description="fold: the down parent device")
    note: str | None = Field(description="cancel, withdraw, merge: the person's own words")


class CaseDetail(CaseOut):
    history: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = Field(
        description="with data_state live | no_data (data_state_label 'no data' while the device is silent)"
    )
    attachments: list[dict[str, Any]]
    ratings: list[dict[str, Any]]
    merged_into: int | None = Field(description="the surviving case, while this case is merged into it")
    merged_cases: list[dict[str, Any]] = Field(description="cases merged into this one")
    requests: list[dict[str, Any]] = Field(description="suspension and extension requests and decisions")
    calls: list[dict[str, Any]] = Field(
        description="street-office calls on organisations: id, organisation, request, called_by, called_at, "
        "respond_by, state (open, accepted, declined, done), answered_by, answered_at, answer_note, escalated_at"
    )
    suspensions: list[dict[str, Any]]
    ended: CaseEnd | None = Field(
        description="for a cancelled case: the move that ended it, and where it went"
    )


class ReportIn(BaseModel):
    community: str = Field(min_length=1, max_length=100)
    category: config.ReportCategory
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = (
        None
    )
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    building: str | None = Field(default=None, max_length=100)
    grid: str | None = Field(default=None, max_length=100)
    device_id: str | None = Field(default=None, max_length=100)
    severity: Severity | None = Field(
        default=None, description="operators only; a resident's report takes the configured severity"
    )
    photo: str | None = Field(default=None, description="base64 of a JPEG or PNG file, at most 2 MB")

    @model_validator(mode="after")
    def _located(self) -> "ReportIn":
        if not (self.building or self.grid or self.device_id):
            raise ValueError("say where: give building, grid or device_id")
        return self


class ActionIn(BaseModel):
    action: Action | HoldAction
    note: str | None = Field(default=None, max_length=4000, description="required to resolve")
    team: TeamName | None = Field(default=None, description="assign: the team that takes the case")
    reason: str | None = Field(
        default=None, max_length=4000, description="required to cancel, hand_back, suspend and extend"
    )
    extend_by: str | None = Field(
        default=None, max_length=20, description="extend: extra time, e.g. 90m, 4h, 4wh (working hours), 2wd"
    )


class EvidenceIn(BaseModel):
    photo: str | None = Field(
        default=None, description="base64 of a JPEG or PNG file, at most 2 MB; leave out to send a note alone"
    )
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="what was done; optional with a photo, required (not blank) without one",
    )

    @model_validator(mode="after")
    def _photo_or_note(self) -> "EvidenceIn":
        note = self.note.strip() if self.note is not None else None
        if self.photo is None and self.note is None:
            raise ValueError("evidence needs a photo or a note: send photo (base64 JPEG/PNG), note, or both")
        if self.photo is None and not note:
            raise ValueError("the note is blank: say what was done in note, or attach a photo")
        self.note = note or None
        return self


class EvidenceOut(BaseModel):
    id: int | None = Field(description="the photo's attachment id; null for a note alone")
    case_id: int
    kind: Literal["photo", "note"]
    content_type: str | None = Field(description="the photo's type; null for a note alone")
    size: int | None = Field(description="the photo's size in bytes; null for a note alone")
    note: str | None


class CallIn(BaseModel):
    organisations: list[Annotated[str, StringConstraints(pattern=ORGANISATION_PATTERN)]] = Field(
        min_length=1,
        max_length=20,
        description="the organisations called on, each serving the case's community",
    )
    request: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="what they are asked to do"
    )
    respond_within: str = Field(
        max_length=20, description="the response deadline, e.g. 4h, 4wh (working hours), 2wd (working days)"
    )


class CallAnswerIn(BaseModel):
    answer: CallAnswer
    note: str | None = Field(default=None, max_length=2000, description="required to decline: the reason")


class MergeIn(BaseModel):
    into: int = Field(description="the surviving case")
    note: str | None = Field(default=None, max_length=2000)


class SplitIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ClosureAlert(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: str
    subject: str
    device_id: str | None


class ClosureItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: Literal["resolved", "readings_normal", "resolution_note", "evidence", "on_site", "calls"]
    state: Literal["done", "waiting", "missing"] = Field(
        description="waiting: passes by itself at `until`; missing: someone must act"
    )
    message: str = Field(description="in English")
    why: str | None = Field(
        description="while not done: not_resolved, not_cleared, no_data, too_recent, no_note, no_evidence, "
        "not_confirmed, only_by_resolver, calls_open"
    )
    alert: ClosureAlert | None = Field(description="readings_normal: the alert it is about")
    since: datetime | None = Field(description="readings_normal: normal (or without data) since")
    until: datetime | None = Field(description="readings_normal: normal long enough at")
    by: str | None = Field(
        description="resolution_note, on_site: who; on_site while missing: the resolver, who may not confirm it"
    )
    at: datetime | None
    photos: int
    notes: int
    organisations: list[str] = Field(description="calls: the organisations still to answer")


class ClosureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: int
    status: str
    can_close: bool = Field(description="close would pass now")
    closable_at: datetime | None = Field(
        description="when close will pass by itself if only time is missing (readings staying normal)"
    )
    normal_for: float = Field(description="seconds every alert must have stayed cleared")
    resolver_may_confirm: bool
    items: list[ClosureItem]


class CommentIn(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class WithdrawIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="optional: why")


class RatingIn(BaseModel):
    stars: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class RatingOut(BaseModel):
    case_id: int
    stars: int
    comment: str | None


Handler = Annotated[User, Depends(require(*HANDLERS))]
Verifier = Annotated[User, Depends(require(*VERIFIERS))]
CaseWorker = Annotated[User, Depends(require(*HANDLERS, Role.MEMBER))]
"""handlers and organisation members (who see only their organisation's cases)"""


@router.get("/cases", response_model=list[CaseOut])
def list_cases(
    conn: Conn,
    user: CurrentUser,
    status_: CaseStatus | None = Query(default=None, alias="status"),
    team: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, Any]]:
    """Residents see their own reports, the alert-raised cases of their communities and the cases their
    reports were merged into."""
    return case_service.list_cases(conn, user, status=status_, team=team, limit=limit, offset=offset)


@router.post("/cases", response_model=CaseDetail, status_code=status.HTTP_201_CREATED)
def report_case(
    body: ReportIn,
    audit: Annotated[Audit, audited("case.create", "case")],
    conn: Conn,
    dispatch: Dispatch,
    user: Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.RESIDENT))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A resident's report (in their own communities) or an operator's case (anywhere). With an
    Idempotency-Key a retry opens no second case and returns the first answer."""
    audit.community = body.community
    request = case_service.ReportRequest(**body.model_dump())
    case = retries.once(
        conn,
        user,
        idempotency_key,
        "POST /cases",
        body,
        audit,
        lambda: case_service.report(conn, user, request, dispatch),
        CaseDetail,
    )
    audit.target_id = str(case["id"])
    return case


@router.post("/cases/next", response_model=CaseDetail)
def claim_next_case(
    audit: Annotated[Audit, audited("case.claim", "case")], conn: Conn, user: Handler
) -> dict[str, Any]:
    """The most urgent unclaimed case of the caller's teams (critical first, then oldest), acknowledged
    in the caller's name. 404 when the queue is empty."""
    case = case_service.claim_next(conn, user)
    audit.target_id = str(case["id"])
    return case


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: int, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    return case_service.get(conn, user, case_id)


@router.post("/cases/{case_id}/actions", response_model=CaseDetail)
def act_on_case(
    case_id: int,
    body: ActionIn,
    audit: Annotated[Audit, audited("case.action", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    dispatch: Dispatch,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """acknowledge, start, resolve (with a note), close (admin/operator: the verifier; verified
    closure), reopen (counts as rework), cancel (with a reason), assign (to a team), hand_back (with a
    reason: not this team's case; back to the default team), confirm_on_site (admin/operator), suspend
    / extend (reason; extend_by) and approve_… / decline_… (admin/operator, not the requester), resume.
    A move the lifecycle or a check does not allow answers 409. An organisation's integration account
    may acknowledge, start, resolve, hand_back and ask to suspend or extend its organisation's cases
    (403 for other actions, 404 for other cases). With an Idempotency-Key a retry returns the first answer and changes nothing."""
    audit.action = f"case.{body.action}"
    audit.details.update(body.model_dump(include={"team", "extend_by"}, exclude_none=True))
    audit.details["from_status"] = case_service.get(conn, user, case_id)["status"]
    request = ActionRequest(
        body.action, note=body.note, team=body.team, reason=body.reason, extend_by=body.extend_by
    )
    case = retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/actions",
        body,
        audit,
        lambda: case_service.act(conn, user, case_id, request, dispatch),
        CaseDetail,
    )
    audit.details["to_status"] = case["status"]
    return case


@router.get("/cases/{case_id}/closure", response_model=ClosureOut)
def closure_checklist(case_id: int, conn: Conn, user: CaseWorker, dispatch: Dispatch) -> ClosureOut:
    """What closing this case needs, item by item, each done, waiting (with the time it will pass) or
    missing — the same checklist `close` is judged by — and whether close can pass now."""
    return ClosureOut.model_validate(case_service.closure(conn, user, case_id, dispatch))


@router.post("/cases/{case_id}/comments", response_model=CaseDetail, status_code=status.HTTP_201_CREATED)
def comment_on_case(
    case_id: int,
    body: CommentIn,
    audit: Annotated[Audit, audited("case.comment", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The reporter adds a comment to their report (or to the case it was merged into); it goes into
    the history as they wrote it. 403 for anyone else. With an Idempotency-Key a retry adds nothing."""
    audit.details["length"] = len(body.text)
    return retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/comments",
        body,
        audit,
        lambda: case_service.comment(conn, user, case_id, body.text),
        CaseDetail,
    )


@router.post("/cases/{case_id}/withdraw", response_model=CaseDetail)
def withdraw_case(
    case_id: int,
    body: WithdrawIn,
    audit: Annotated[Audit, audited("case.withdraw", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The reporter withdraws their report while it is new or dispatched (the move `withdraw`: it is
    cancelled, "withdrawn by the reporter"); 403 for anyone else, 409 once someone has started on it.
    With an Idempotency-Key a retry returns the first answer instead of 409."""
    audit.details["with_reason"] = bool(body.reason and body.reason.strip())
    return retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/withdraw",
        body,
        audit,
        lambda: case_service.withdraw(conn, user, case_id, body.reason),
        CaseDetail,
    )


@router.post("/cases/{case_id}/attachments", response_model=EvidenceOut, status_code=status.HTTP_201_CREATED)
def attach_evidence(
    case_id: int,
    body: EvidenceIn,
    audit: Annotated[Audit, audited("case.attach_evidence", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> EvidenceOut:
    """A handler's (or an organisation's account's, on its own case) evidence of the finished work: a
    photo with an optional note, or a note alone. Verified closure asks for evidence where the category
    requires it; either kind counts. With an Idempotency-Key a retry adds nothing and returns the first
    answer."""

    def add() -> EvidenceOut:
        added = case_service.add_evidence(conn, user, case_id, body.photo, body.note)
        return EvidenceOut(
            id=added.attachment_id,
            case_id=case_id,
            kind="note" if added.kind == "note" else "photo",
            content_type=added.content_type,
            size=added.size,
            note=added.note,
        )

    out = EvidenceOut.model_validate(
        retries.once(
            conn, user, idempotency_key, f"POST /cases/{case_id}/attachments", body, audit, add, EvidenceOut
        )
    )
    if out.kind == "note":
        audit.details.update(kind="note", length=len(out.note or ""))
    else:
        audit.details.update(kind="photo", attachment_id=out.id, content_type=out.content_type, size=out.size)
    return out


@router.post("/cases/{case_id}/calls", response_model=CaseDetail, status_code=status.HTTP_201_CREATED)
def call_on_organisations(
    case_id: int,
    body: CallIn,
    audit: Annotated[Audit, audited("case.call", "case", "case_id")],
    conn: Conn,
    user: Verifier,
    dispatch: Dispatch,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """The street office (admin, operator) calls on organisations for a joint response: one call each,
    due within `respond_within` on the community's working calendar. 422 for an organisation not
    serving the case's community, 409 for a done case or an organisation already called and not done.
    With an Idempotency-Key a retry calls no one again and returns the first answer."""
    audit.details.update(organisations=sorted(set(body.organisations)), respond_within=body.respond_within)
    return retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/calls",
        body,
        audit,
        lambda: case_service.call(
            conn, user, case_id, body.organisations, body.request, body.respond_within, dispatch
        ),
        CaseDetail,
    )


@router.post("/cases/{case_id}/calls/{call_id}/answer", response_model=CaseDetail)
def answer_call(
    case_id: int,
    call_id: int,
    body: CallAnswerIn,
    audit: Annotated[Audit, audited("case.answer_call", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """An account of the called organisation answers: accept, decline (note: the reason) or done. 403
    for anyone else, 409 for an answer the call's state does not take (a declined or done call is
    answered). With an Idempotency-Key a retry returns the first answer."""
    audit.details.update(call_id=call_id, answer=body.answer)
    return retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/calls/{call_id}/answer",
        body,
        audit,
        lambda: case_service.answer_call(conn, user, case_id, call_id, body.answer, body.note),
        CaseDetail,
    )


@router.post("/cases/{case_id}/merge", response_model=CaseDetail)
def merge_case(
    case_id: int,
    body: MergeIn,
    audit: Annotated[Audit, audited("case.merge", "case", "case_id")],
    conn: Conn,
    user: Verifier,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Merge this case into `into` (one case per problem): this case is cancelled with "merged into
    #N"; its reporter follows the surviving case, which is returned. 409 when either is not open; with
    an Idempotency-Key a retry returns the first answer instead."""
    audit.details["into"] = body.into
    return retries.once(
        conn,
        user,
        idempotency_key,
        f"POST /cases/{case_id}/merge",
        body,
        audit,
        lambda: case_service.merge(conn, user, case_id, body.into, body.note),
        CaseDetail,
    )


@router.post("/cases/{case_id}/split", response_model=CaseDetail)
def split_case(
    case_id: int,
    body: SplitIn,
    audit: Annotated[Audit, audited("case.split", "case", "case_id")],
    conn: Conn,
    user: Verifier,
) -> dict[str, Any]:
    """Undo the merge of this case: it gets back the status it had, and its alerts leave the surviving
    case. 409 when it is not merged."""
    surviving_id, case = case_service.split(conn, user, case_id, body.note)
    audit.details["was_merged_into"] = surviving_id
    return case


@router.post("/cases/{case_id}/rating", response_model=RatingOut, status_code=status.HTTP_201_CREATED)
def rate_case(
    case_id: int,
    body: RatingIn,
    audit: Annotated[Audit, audited("case.rate", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Once per resident and case, after the case is resolved or closed (409 for a second rating; with
    an Idempotency-Key a retry of the first gets its answer instead)."""
    audit.details["stars"] = body.stars

    def rate() -> RatingOut:
        case_service.rate(conn, user, case_id, body.stars, body.comment)
        return RatingOut(case_id=case_id, stars=body.stars, comment=body.comment)

    return retries.once(
        conn, user, idempotency_key, f"POST /cases/{case_id}/rating", body, audit, rate, RatingOut
    )


@router.get(
    "/cases/{case_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def get_attachment(case_id: int, attachment_id: int, conn: Conn, user: CurrentUser) -> Response:
    content_type, data = case_service.attachment(conn, user, case_id, attachment_id)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})
