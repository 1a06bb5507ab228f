from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.api.deps import Conn, CurrentUser, community_scope, visible
from hub.cases.lifecycle import CaseStatus
from hub.store import cases as case_store

router = APIRouter(tags=["cases"])


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


class CaseDetail(CaseOut):
    history: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


@router.get("/cases", response_model=list[CaseOut])
def list_cases(
    conn: Conn,
    user: CurrentUser,
    status_: CaseStatus | None = Query(default=None, alias="status"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[dict[str, Any]]:
    return case_store.list_cases(
        conn, communities=community_scope(user), status=status_, limit=limit, offset=offset
    )


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: int, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    return visible(user, case_store.get_case(conn, case_id), f"case {case_id}")
