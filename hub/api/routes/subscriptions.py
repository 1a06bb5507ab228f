"""Webhook subscriptions for case notifications (admins, and integration accounts for their own)."""

from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from hub.api.deps import Conn, require
from hub.domain.alerts import Category, Severity
from hub.domain.roles import Role
from hub.domain.users import User
from hub.notify.webhook import new_secret
from hub.store import outbox
from hub.store import subscriptions as store

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
    secret = new_secret()
    subscription_id = store.create(
        conn,
        url=str(body.url),
        communities=body.communities,
        teams=body.teams,
        categories=list(body.categories) if body.categories else None,
        min_severity=body.min_severity,
        max_attempts=body.max_attempts,
        secret=secret,
        created_by=user.id,
    )
    created = _owned(conn, user, subscription_id)
    return {**created, "secret": secret, "deliveries": {"pending": 0, "delivered": 0, "dead": 0}}


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(conn: Conn, user: Subscriber) -> list[dict[str, Any]]:
    return store.list_subscriptions(conn, owner=None if user.role == "admin" else user.id)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: int, conn: Conn, user: Subscriber) -> Response:
    _owned(conn, user, subscription_id)
    store.delete(conn, subscription_id)
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
    _owned(conn, user, subscription_id)
    return outbox.deliveries(conn, subscription_id, status=status_, limit=limit, offset=offset)


def _owned(conn: psycopg.Connection[Any], user: User, subscription_id: int) -> dict[str, Any]:
    """Another account's subscription looks the same as a missing one, except to admins."""
    found = store.get(conn, subscription_id)
    if found is None or (user.role != "admin" and found["owner_id"] != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {subscription_id} of yours")
    return found
