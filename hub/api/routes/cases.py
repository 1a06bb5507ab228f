from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, StringConstraints, model_validator

from hub.api.deps import AppSettings, Conn, CurrentUser, community_scope, require, visible
from hub.api.routes.audit import Audit, audited
from hub.cases import acting, config, feedback, merging, opening
from hub.cases.actions import Action, ActionForbidden, ActionIncomplete, ActionRequest, HoldAction
from hub.cases.photos import PhotoNotAnImage, PhotoRejected, PhotoTooLarge, decode_photo
from hub.cases.routing import TeamName
from hub.domain.alerts import Severity
from hub.domain.cases import CaseStatus, TransitionRefused
from hub.domain.users import User
from hub.store import cases as case_store
from hub.store import devices as device_store

router = APIRouter(tags=["cases"])
MAX_OFFSET = 10_000_000  # PostgreSQL's OFFSET is a bigint; far beyond any case list, far below its limit


class CaseOut(BaseModel):
    id: int
    title: str
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
    suspensions: list[dict[str, Any]]


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
        default=None, max_length=4000, description="required to cancel, suspend and extend"
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


class MergeIn(BaseModel):
    into: int = Field(description="the surviving case")
    note: str | None = Field(default=None, max_length=2000)


class SplitIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class RatingIn(BaseModel):
    stars: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class RatingOut(BaseModel):
    case_id: int
    stars: int
    comment: str | None


Handler = Annotated[User, Depends(require("admin", "operator", "manager"))]
Verifier = Annotated[User, Depends(require("admin", "operator"))]


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
    return case_store.list_cases(
        conn,
        communities=community_scope(user),
        status=status_,
        limit=limit,
        offset=offset,
        resident_id=user.id if user.role == "resident" else None,
        team=team,
    )


@router.post("/cases", response_model=CaseDetail, status_code=status.HTTP_201_CREATED)
def report_case(
    body: ReportIn,
    audit: Annotated[Audit, audited("case.create", "case")],
    conn: Conn,
    settings: AppSettings,
    user: Annotated[User, Depends(require("admin", "operator", "resident"))],
) -> dict[str, Any]:
    """A resident's report (in their own communities) or an operator's case (anywhere)."""
    audit.community = body.community
    if user.role == "resident":
        if body.community not in user.communities:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"you can report only in: {', '.join(user.communities)}"
            )
        if body.severity is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "severity is set by operators")
    if not case_store.community_exists(conn, body.community):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no community {body.community}")
    building, grid = body.building, body.grid
    if body.device_id is not None:
        device = device_store.get_device(conn, body.device_id)
        if device is None or device["community_id"] != body.community:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"no device {body.device_id} in {body.community}"
            )
        building, grid = building or device["building"], grid or device["grid"]
    photo = None
    if body.photo is not None:
        with _refusals():
            photo = decode_photo(body.photo)
    dispatch = config.current(settings.routing_file)
    report = opening.Report(
        community=body.community,
        category=body.category,
        title=body.title or body.description.splitlines()[0][:80],
        description=body.description,
        building=building,
        grid=grid,
        device_id=body.device_id,
        severity=body.severity or dispatch.report_severity_of(body.category),
        photo=photo,
    )
    case_id = opening.open_report(conn, report, user, dispatch, datetime.now(UTC))
    audit.target_id = str(case_id)
    return _found(case_store.get_case(conn, case_id), case_id)


@router.post("/cases/next", response_model=CaseDetail)
def claim_next_case(
    audit: Annotated[Audit, audited("case.claim", "case")], conn: Conn, user: Handler
) -> dict[str, Any]:
    """The most urgent unclaimed case of the caller's teams (critical first, then oldest), acknowledged
    in the caller's name. 404 when the queue is empty."""
    try:
        case_id = acting.claim_next(conn, user, community_scope(user), datetime.now(UTC))
    except acting.NoTeam:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "you belong to no team; an admin adds you with PUT /teams/{team}/members/{username}",
        ) from None
    if case_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no unclaimed case waits for your teams")
    audit.target_id = str(case_id)
    return _found(case_store.get_case(conn, case_id), case_id)


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: int, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    return _case_for(user, case_store.get_case(conn, case_id), case_id)


@router.post("/cases/{case_id}/actions", response_model=CaseDetail)
def act_on_case(
    case_id: int,
    body: ActionIn,
    audit: Annotated[Audit, audited("case.action", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
    settings: AppSettings,
) -> dict[str, Any]:
    """acknowledge, start, resolve (with a note), close (admin/operator: the verifier; verified
    closure), reopen (counts as rework), cancel (with a reason), assign (to a team), confirm_on_site
    (admin/operator), suspend / extend (reason; extend_by) and approve_… / decline_… (admin/operator,
    not the requester), resume. A move the lifecycle or a check does not allow answers 409."""
    audit.action = f"case.{body.action}"
    before = _case_for(user, case_store.get_case(conn, case_id), case_id)
    audit.details.update(body.model_dump(include={"team", "extend_by"}, exclude_none=True))
    audit.details["from_status"] = before["status"]
    request = ActionRequest(
        body.action, note=body.note, team=body.team, reason=body.reason, extend_by=body.extend_by
    )
    with _refusals():
        acting.act(conn, case_id, user, request, datetime.now(UTC), config.current(settings.routing_file))
    after = _found(case_store.get_case(conn, case_id), case_id)
    audit.details["to_status"] = after["status"]
    return after


@router.post("/cases/{case_id}/attachments", response_model=EvidenceOut, status_code=status.HTTP_201_CREATED)
def attach_evidence(
    case_id: int,
    body: EvidenceIn,
    audit: Annotated[Audit, audited("case.attach_evidence", "case", "case_id")],
    conn: Conn,
    user: Handler,
) -> EvidenceOut:
    """A handler's evidence of the finished work: a photo with an optional note, or a note alone.
    Verified closure asks for evidence where the category requires it; either kind counts."""
    _case_for(user, case_store.get_case(conn, case_id), case_id)
    now = datetime.now(UTC)
    if body.photo is None:
        with _refusals():
            note = acting.attach_evidence_note(conn, case_id, user, body.note or "", now)
        audit.details.update(kind="note", length=len(note))
        return EvidenceOut(id=None, case_id=case_id, kind="note", content_type=None, size=None, note=note)
    with _refusals():
        photo = decode_photo(body.photo)
        attachment_id = acting.attach_evidence(
            conn, case_id, user, photo.content_type, photo.data, now, body.note
        )
    audit.details.update(
        kind="photo", attachment_id=attachment_id, content_type=photo.content_type, size=len(photo.data)
    )
    return EvidenceOut(
        id=attachment_id,
        case_id=case_id,
        kind="photo",
        content_type=photo.content_type,
        size=len(photo.data),
        note=body.note,
    )


@router.post("/cases/{case_id}/merge", response_model=CaseDetail)
def merge_case(
    case_id: int,
    body: MergeIn,
    audit: Annotated[Audit, audited("case.merge", "case", "case_id")],
    conn: Conn,
    user: Verifier,
) -> dict[str, Any]:
    """Merge this case into `into` (one case per problem): this case is cancelled with "merged into
    #N"; its reporter follows the surviving case, which is returned. 409 when either is not open."""
    audit.details["into"] = body.into
    _case_for(user, case_store.get_case(conn, case_id), case_id)
    _case_for(user, case_store.get_case(conn, body.into), body.into)
    with _refusals():
        merging.merge(
            conn, case_id, body.into, by=user.username, by_id=user.id, now=datetime.now(UTC), note=body.note
        )
    return _found(case_store.get_case(conn, body.into), body.into)


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
    _case_for(user, case_store.get_case(conn, case_id), case_id)
    with _refusals():
        surviving_id = merging.split(conn, case_id, by=user.username, now=datetime.now(UTC), note=body.note)
    audit.details["was_merged_into"] = surviving_id
    return _found(case_store.get_case(conn, case_id), case_id)


@router.post("/cases/{case_id}/rating", response_model=RatingOut, status_code=status.HTTP_201_CREATED)
def rate_case(
    case_id: int,
    body: RatingIn,
    audit: Annotated[Audit, audited("case.rate", "case", "case_id")],
    conn: Conn,
    user: CurrentUser,
) -> RatingOut:
    """Once per resident and case, after the case is resolved or closed."""
    audit.details["stars"] = body.stars
    case = _case_for(user, case_store.get_case(conn, case_id), case_id)
    with _refusals():
        feedback.rate(conn, case, user, body.stars, body.comment, datetime.now(UTC))
    return RatingOut(case_id=case_id, stars=body.stars, comment=body.comment)


@router.get(
    "/cases/{case_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def get_attachment(case_id: int, attachment_id: int, conn: Conn, user: CurrentUser) -> Response:
    _case_for(user, case_store.get_case(conn, case_id), case_id)
    found = case_store.get_attachment(conn, case_id, attachment_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no attachment {attachment_id} on case {case_id}")
    content_type, data = found
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})


def _case_for(user: User, record: dict[str, Any] | None, case_id: int) -> dict[str, Any]:
    """Outside one's scope looks the same as absent; residents' scope is their own reports, the
    alert-raised cases of their communities and the cases their reports were merged into, never a
    neighbour's report."""
    case = visible(user, record, f"case {case_id}")
    merged_reporter = any(m["reporter_id"] == user.id for m in case.get("merged_cases", []))
    if (
        user.role == "resident"
        and case["source"] != "alert"
        and case["reporter_id"] != user.id
        and not merged_reporter
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id} in your communities")
    return case


def _found(record: dict[str, Any] | None, case_id: int) -> dict[str, Any]:
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return record


_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (TransitionRefused, status.HTTP_409_CONFLICT),
    (feedback.RatingRefused, status.HTTP_409_CONFLICT),
    (ActionForbidden, status.HTTP_403_FORBIDDEN),
    (ActionIncomplete, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (acting.CaseNotFound, status.HTTP_404_NOT_FOUND),
    (PhotoTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (PhotoNotAnImage, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (PhotoRejected, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


@contextmanager
def _refusals() -> Iterator[None]:
    """The case modules refuse with plain exceptions; this is their one translation to HTTP."""
    try:
        yield
    except tuple(e for e, _ in _STATUS_OF) as exc:
        code = next(code for kind, code in _STATUS_OF if isinstance(exc, kind))
        raise HTTPException(code, str(exc)) from None
