from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from hub.api import retries
from hub.api.audit import Audit, audited
from hub.api.deps import Conn, CurrentUser, require
from hub.api.params import BIGINT_MAX, IdempotencyKey
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import silences as silence_service

router = APIRouter(tags=["silences"])
Operator = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR))]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class SilenceIn(BaseModel):
    """What to silence (at least one of rule, device, community; a building needs its community),
    for how long, and why. Matching alerts are recorded but open no case."""

    rule_id: str | None = Field(default=None, min_length=1, max_length=100)
    device_id: str | None = Field(default=None, min_length=1, max_length=100)
    community_id: str | None = Field(default=None, min_length=1, max_length=100)
    building: str | None = Field(default=None, min_length=1, max_length=100)
    starts_at: AwareDatetime | None = Field(default=None, description="default: now")
    ends_at: AwareDatetime
    reason: str = Field(min_length=3, max_length=500, examples=["pump replacement in manhole 3"])

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _storable(cls, v: datetime | None) -> datetime | None:
        if v is not None and not EARLIEST <= v < LATEST:  # comparing aware datetimes cannot overflow
            raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
        return v

    @model_validator(mode="after")
    def _says_what(self) -> "SilenceIn":
        if not (self.rule_id or self.device_id or self.community_id):
            raise ValueError("name a rule_id, a device_id or a community_id to silence")
        if self.building and not self.community_id:
            raise ValueError("a building is silenced within its community: give community_id too")
        if self.ends_at <= (self.starts_at or datetime.now(UTC)):
            raise ValueError("ends_at must be after starts_at (or after now)")
        return self


class SilenceOut(BaseModel):
    id: int
    rule_id: str | None
    device_id: str | None
    community_id: str | None
    building: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    ended_by: str | None = Field(description="who ended it before its time")
    state: Literal["scheduled", "active", "ended"]


@router.post("/silences", response_model=SilenceOut, status_code=status.HTTP_201_CREATED)
def create_silence(
    audit: Annotated[Audit, audited("silence.create", "silence")],
    body: SilenceIn,
    conn: Conn,
    user: Operator,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """With an Idempotency-Key a retry makes no second silence and returns the first answer."""
    audit.community = body.community_id
    audit.details.update(
        {k: v for k, v in body.model_dump(include={"rule_id", "device_id", "building"}).items() if v}
    )
    created = retries.once(
        conn,
        user,
        idempotency_key,
        "POST /silences",
        body,
        audit,
        lambda: silence_service.create(
            conn,
            user,
            rule_id=body.rule_id,
            device_id=body.device_id,
            community_id=body.community_id,
            building=body.building,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
        ),
        SilenceOut,
    )
    audit.target_id = str(created["id"])
    audit.details["ends_at"] = created["ends_at"]
    return created


@router.get("/silences", response_model=list[SilenceOut])
def list_silences(
    conn: Conn,
    user: CurrentUser,
    recent_days: int = Query(
        default=0, ge=0, le=90, description="also those to come and those ended in the last N days"
    ),
) -> list[dict[str, Any]]:
    """Silences in force now (with `recent_days`, also those to come and recently ended ones, in force
    first); managers see those of their communities."""
    return silence_service.listed(conn, user, recent_days)


@router.delete("/silences/{silence_id}", status_code=status.HTTP_204_NO_CONTENT)
def end_silence(
    silence_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    _audit: Annotated[Audit, audited("silence.end", "silence", "silence_id")],
    conn: Conn,
    user: Operator,
) -> None:
    """End a silence now (one not started yet never starts); it stays on record with who ended it."""
    silence_service.end(conn, user, silence_id)
