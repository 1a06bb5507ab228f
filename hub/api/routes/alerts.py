"""Every open alert across devices, in the caller's communities: what is wrong right now and whether a
case has it."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hub.api.deps import Conn, require
from hub.api.params import decode_cursor, encode_cursor
from hub.domain.devices import DeviceKind
from hub.domain.roles import HANDLERS
from hub.domain.users import User
from hub.services import alerts as alert_service

router = APIRouter(tags=["alerts"])


class OpenAlertOut(BaseModel):
    id: int
    rule_id: str
    title: str = Field(description="the rule's title in English")
    title_zh: str | None = Field(description="the rule's title in Chinese, where the rule has one")
    subject: str = Field(description="the device id, or the group a correlation rule watches")
    device_id: str | None
    device_kind: DeviceKind | None
    community_id: str
    building: str | None
    grid: str | None
    severity: str
    category: str
    started_at: datetime = Field(description="device time the condition began")
    opened_at: datetime = Field(description="device time the alert opened: open since")
    data_state: str = Field(description="live, or no_data while its device is silent")
    data_state_since: datetime | None
    silenced: bool = Field(description="a silence kept it from being dispatched")
    silence_id: int | None
    case_ids: list[int] = Field(description="the cases it is linked to; link: #/case/{id}")


class OpenAlertPage(BaseModel):
    alerts: list[OpenAlertOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@router.get(
    "/alerts",
    response_model=OpenAlertPage,
    responses={403: {"description": "staff only"}, 422: {"description": "bad filter or cursor"}},
)
def list_open_alerts(
    conn: Conn,
    user: Annotated[User, Depends(require(*HANDLERS))],
    community: str | None = Query(default=None, max_length=100),
    rule: str | None = Query(default=None, max_length=100, description="rule id"),
    severity: str | None = Query(default=None, max_length=20, examples=["critical"]),
    category: str | None = Query(default=None, max_length=64),
    data_state: str | None = Query(default=None, pattern="^(live|no_data)$"),
    silenced: bool | None = None,
    kind: DeviceKind | None = Query(default=None, description="the alerting device's kind"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=50, description="`next_cursor` of the previous page"),
) -> OpenAlertPage:
    """Open alerts, newest first; a manager sees those of their communities."""
    filters = alert_service.OpenFilters(
        None, community, rule, severity, category, data_state, silenced, kind.value if kind else None
    )
    rows = alert_service.open_alerts(conn, user, filters, after=decode_cursor(cursor), limit=limit + 1)
    last = rows[limit - 1] if len(rows) > limit else None
    return OpenAlertPage(
        alerts=[OpenAlertOut.model_validate(r) for r in rows[:limit]],
        next_cursor=None if last is None else encode_cursor(last["opened_at"], last["id"]),
    )
