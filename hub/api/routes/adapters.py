"""Replays of an adapter's dead letters once the adapter is fixed: asked for and followed by admins."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, require
from hub.api.params import BIGINT_MAX
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import adapters as adapter_service

router = APIRouter(tags=["adapters"])
Admin = Annotated[User, Depends(require(Role.ADMIN))]
AdapterId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", examples=["lampgw"])]


class ReplayOut(BaseModel):
    id: int
    adapter: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None = Field(description="when a worker took it; null while it waits")
    done_at: datetime | None = Field(description="null until it is over")
    replayed: int | None = Field(description="dead letters replayed (each stored, or refused again)")
    error: str | None = Field(description="why it stopped, if it did")


@router.post("/adapters/{adapter_id}/replay", response_model=ReplayOut, status_code=status.HTTP_202_ACCEPTED)
def request_replay(
    adapter_id: AdapterId,
    audit: Annotated[Audit, audited("adapter.replay", "adapter", "adapter_id")],
    conn: Conn,
    user: Admin,
) -> dict[str, Any]:
    """Replay the adapter's dead letters through the adapter in force: each is mapped again and, if it
    passes now, stored once; one refused again becomes a new dead letter. Follow it with
    `GET /adapters/replays/{id}`."""
    found = adapter_service.request_replay(conn, user, adapter_id)
    audit.details["replay"] = found["id"]
    return found


@router.get("/adapters/replays/{replay_id}", response_model=ReplayOut)
def get_replay(
    replay_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)], conn: Conn, _user: Admin
) -> dict[str, Any]:
    return adapter_service.replay(conn, replay_id)
