"""Webhook subscriptions for case notifications (admins, and integration accounts for their own)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from hub.api.deps import Conn, require
from hub.domain.alerts import Category, Severity
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import subscriptions as subscription_service

router = APIRouter(tags=["notifications"])
Subscriber = Annotated[User, Depends(require(Role.ADMIN, Role.INTEGRATION))]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="http or https; receives a signed POST per case event")
    communities: list[Name] | None = Field(default=None, min_length=1, description="absent: every community")
    teams: list[Name] | None = Field(default=None, min_length=1, description="absent: every team")
    categories: list[Category] | None = Field(default=None, min_length=1, description="absent: all")
    min_severity: Severity = "info"
    max_attempts: int = Field(default=10, ge=1, le=100, description="after these, a delivery is dead")


class SubscriptionOut(BaseModel):
    id: int
    url: str
    communities: list[str] | None
    teams: list[str] | None
    categories: list[str] | None
    min_severity: str
    max_attempts: int
    created_at: datetime
    created_by: str | None
    deliveries: dict[str, int] = Field(description="outbox rows by status")


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="HMAC key of X-Hub-Signature; shown only in this response")


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    case_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


@router.post("/subscriptions", response_model=SubscriptionCreated, status_code=status.HTTP_201_CREATED)
def create_subscription(body: SubscriptionIn, conn: Conn, user: Subscriber) -> dict[str, Any]:
    return subscription_service.create(
        conn,
        user,
        url=str(body.url),
        communities=body.communities,
        teams=body.teams,
        categories=list(body.categories) if body.categories else None,
        min_severity=body.min_severity,
        max_attempts=body.max_attempts,
    )


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(conn: Conn, user: Subscriber) -> list[dict[str, Any]]:
    return subscription_service.listed(conn, user)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: int, conn: Conn, user: Subscriber) -> Response:
    subscription_service.delete(conn, user, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    subscription_id: int,
    conn: Conn,
    user: Subscriber,
    status_: Literal["pending", "delivered", "dead"] | None = Query(default=None, alias="status"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[dict[str, Any]]:
    return subscription_service.deliveries(
        conn, user, subscription_id, status=status_, limit=limit, offset=offset
    )
