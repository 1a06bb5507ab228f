"""Cases as the API serves them: lists and details in the caller's scope, reports, claims, actions,
the closure checklist, evidence, merges, splits, reporters' comments and withdrawals, ratings and
attachments.

Residents' scope is narrower than their communities: their own reports, the alert-raised cases of
their communities and the cases their reports were merged into, never a neighbour's report.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.cases import acting, calls, feedback, merging, opening, reporters, verification
from hub.cases.actions import ActionRequest
from hub.cases.config import DispatchConfig, ReportCategory
from hub.cases.photos import decode_photo
from hub.domain.calls import CallAnswer
from hub.domain.cases import CaseStatus
from hub.domain.errors import Forbidden, Invalid, NotFound
from hub.domain.roles import HANDLERS, Role
from hub.domain.users import User
from hub.services.scope import resident_id, visible
from hub.store import cases as case_store
from hub.store import devices as device_store


def list_cases(
    conn: psycopg.Connection[Any],
    user: User,
    *,
    status: CaseStatus | None,
    team: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    return case_store.list_cases(
        conn,
        communities=user.community_scope(),
        status=status,
        limit=limit,
        offset=offset,
        resident_id=resident_id(user),
        team=team,
        organisation=user.organisation,
    )


def get(conn: psycopg.Connection[Any], user: User, case_id: int) -> dict[str, Any]:
    """The case with its history, alerts, attachments, merges, requests, calls and ratings, if in scope
    (for an organisation's account: if one of its teams has it or it calls on the organisation)."""
    case = visible(user, case_store.get_case(conn, case_id), f"case {case_id}")
    called = {c["organisation"] for c in case["calls"]}
    if user.organisation is not None and user.organisation not in {case["organisation"], *called}:
        raise NotFound(f"no case {case_id} assigned to or calling on {user.organisation}")
    if user.role == Role.RESIDENT and case["source"] != "alert" and not reporters.is_reporter(case, user):
        raise NotFound(f"no case {case_id} in your communities")
    return case


@dataclass(frozen=True)
class ReportRequest:
    community: str
    category: ReportCategory
    title: str | None
    description: str
    building: str | None
    grid: str | None
    device_id: str | None
    severity: str | None
    photo: str | None
    """base64 of a JPEG or PNG file"""


def report(
    conn: psycopg.Connection[Any], user: User, body: ReportRequest, dispatch: DispatchConfig
) -> dict[str, Any]:
    """A resident's report (in their own communities) or an operator's case (anywhere)."""
    if user.role == Role.RESIDENT:
        if body.community not in user.communities:
            raise Forbidden(f"you can report only in: {', '.join(user.communities)}")
        if body.severity is not None:
            raise Invalid("severity is set by operators")
    if not case_store.community_exists(conn, body.community):
        raise NotFound(f"no community {body.community}")
    building, grid = body.building, body.grid
    if body.device_id is not None:
        device = device_store.get_device(conn, body.device_id)
        if device is None or device["community_id"] != body.community:
            raise Invalid(f"no device {body.device_id} in {body.community}")
        building, grid = building or device["building"], grid or device["grid"]
    photo = decode_photo(body.photo) if body.photo is not None else None
    case = opening.Report(
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
    case_id = opening.open_report(conn, case, user, dispatch, datetime.now(UTC))
    return _found(conn, case_id)


def claim_next(conn: psycopg.Connection[Any], user: User) -> dict[str, Any]:
    """The most urgent unclaimed case of the caller's teams, acknowledged in their name."""
    try:
        case_id = acting.claim_next(conn, user, user.community_scope(), datetime.now(UTC))
    except acting.NoTeam:
        raise NotFound(
            "you belong to no team; an admin adds you with PUT /teams/{team}/members/{username}"
        ) from None
    if case_id is None:
        raise NotFound("no unclaimed case waits for your teams")
    return _found(conn, case_id)


def act(
    conn: psycopg.Connection[Any], user: User, case_id: int, request: ActionRequest, dispatch: DispatchConfig
) -> dict[str, Any]:
    """The case after the action."""
    get(conn, user, case_id)
    acting.act(conn, case_id, user, request, datetime.now(UTC), dispatch)
    return _found(conn, case_id)


@dataclass(frozen=True)
class Evidence:
    attachment_id: int | None
    kind: str
    content_type: str | None
    size: int | None
    note: str | None


def add_evidence(
    conn: psycopg.Connection[Any], user: User, case_id: int, photo: str | None, note: str | None
) -> Evidence:
    """A photo with an optional note, or a note alone."""
    if user.role not in HANDLERS and user.organisation is None:
        raise Forbidden("evidence comes from the people handling the case (admin, operator, manager)")
    get(conn, user, case_id)
    now = datetime.now(UTC)
    if photo is None:
        text = acting.attach_evidence_note(conn, case_id, user, note or "", now)
        return Evidence(None, "note", None, None, text)
    decoded = decode_photo(photo)
    attachment_id = acting.attach_evidence(conn, case_id, user, decoded.content_type, decoded.data, now, note)
    return Evidence(attachment_id, "photo", decoded.content_type, len(decoded.data), note)


def call(
    conn: psycopg.Connection[Any],
    user: User,
    case_id: int,
    organisations: list[str],
    request: str,
    respond_within: str,
    dispatch: DispatchConfig,
) -> dict[str, Any]:
    """The street office calls on organisations for a joint response; returns the case."""
    get(conn, user, case_id)
    calls.call(conn, case_id, user, organisations, request, respond_within, datetime.now(UTC), dispatch)
    return _found(conn, case_id)


def answer_call(
    conn: psycopg.Connection[Any], user: User, case_id: int, call_id: int, reply: CallAnswer, note: str | None
) -> dict[str, Any]:
    """The called organisation's answer; returns the case."""
    get(conn, user, case_id)
    calls.answer(conn, case_id, call_id, user, reply, note, datetime.now(UTC))
    return _found(conn, case_id)


def merge(
    conn: psycopg.Connection[Any], user: User, case_id: int, into: int, note: str | None
) -> dict[str, Any]:
    """Merge `case_id` into `into`; returns the surviving case."""
    get(conn, user, case_id)
    get(conn, user, into)
    merging.merge(conn, case_id, into, by=user.username, by_id=user.id, now=datetime.now(UTC), note=note)
    return _found(conn, into)


def split(
    conn: psycopg.Connection[Any], user: User, case_id: int, note: str | None
) -> tuple[int, dict[str, Any]]:
    """Undo the merge of `case_id`: (the case it had been merged into, the case)."""
    get(conn, user, case_id)
    surviving = merging.split(conn, case_id, by=user.username, now=datetime.now(UTC), note=note)
    return surviving, _found(conn, case_id)


def closure(
    conn: psycopg.Connection[Any], user: User, case_id: int, dispatch: DispatchConfig
) -> verification.Checklist:
    """What closing the case needs and what of it is there: the checklist `close` is judged by."""
    case = get(conn, user, case_id)
    rule = dispatch.verification_for(case["category"])
    return verification.checklist_of(conn, case_id, rule, datetime.now(UTC))


def comment(conn: psycopg.Connection[Any], user: User, case_id: int, text: str) -> dict[str, Any]:
    """The reporter's comment on their report (or the case it was merged into); returns the case."""
    reporters.comment(conn, get(conn, user, case_id), user, text, datetime.now(UTC))
    return _found(conn, case_id)


def withdraw(conn: psycopg.Connection[Any], user: User, case_id: int, reason: str | None) -> dict[str, Any]:
    """The reporter takes their report back while nobody has started on it; returns the case."""
    get(conn, user, case_id)
    reporters.withdraw(conn, case_id, user, reason, datetime.now(UTC))
    return _found(conn, case_id)


def rate(conn: psycopg.Connection[Any], user: User, case_id: int, stars: int, comment: str | None) -> None:
    feedback.rate(conn, get(conn, user, case_id), user, stars, comment, datetime.now(UTC))


def attachment(
    conn: psycopg.Connection[Any], user: User, case_id: int, attachment_id: int
) -> tuple[str, bytes]:
    """(content type, bytes) of a photo of a case in scope."""
    get(conn, user, case_id)
    found = case_store.get_attachment(conn, case_id, attachment_id)
    if found is None:
        raise NotFound(f"no attachment {attachment_id} on case {case_id}")
    return found


def _found(conn: psycopg.Connection[Any], case_id: int) -> dict[str, Any]:
    case = case_store.get_case(conn, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case
