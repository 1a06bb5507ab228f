"""Webhook subscriptions for case notifications (admins, and integration accounts for their own): their
deliveries, a test notification, and a dead delivery tried again."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, require
from hub.api.params import BIGINT_MAX
from hub.domain.alerts import Category, Severity
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import subscriptions as subscription_service

router = APIRouter(tags=["notifications"])
Subscriber = Annotated[User, Depends(require(Role.ADMIN, Role.INTEGRATION))]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Id = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


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
    last_error: dict[str, Any] | None = Field(
        description="the latest delivery that failed and is not delivered since: delivery_id, status, error"
    )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="HMAC key of X-Hub-Signature; shown only in this response")


class DeliveryOut(BaseModel):
    id: int
    event_id: int | None = Field(description="null for a test notification")
    case_id: int | None = Field(description="null for a test notification")
    test: bool
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


@router.post("/subscriptions", response_model=SubscriptionCreated, status_code=status.HTTP_201_CREATED)
def create_subscription(
    audit: Annotated[Audit, audited("subscription.create", "subscription")],
    body: SubscriptionIn,
    conn: Conn,
    user: Subscriber,
) -> dict[str, Any]:
    audit.details["host"] = body.url.host
    created = subscription_service.create(
        conn,
        user,
        url=str(body.url),
        communities=body.communities,
        teams=body.teams,
        categories=list(body.categories) if body.categories else None,
        min_severity=body.min_severity,
        max_attempts=body.max_attempts,
    )
    audit.target_id = str(created["id"])
    return created


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(conn: Conn, user: Subscriber) -> list[dict[str, Any]]:
    return subscription_service.listed(conn, user)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(
    subscription_id: Id,
    _audit: Annotated[Audit, audited("subscription.delete", "subscription", "subscription_id")],
    conn: Conn,
    user: Subscriber,
) -> Response:
    subscription_service.delete(conn, user, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    subscription_id: Id,
    conn: Conn,
    user: Subscriber,
    status_: Literal["pending", "delivered", "dead"] | None = Query(default=None, alias="status"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[dict[str, Any]]:
    return subscription_service.deliveries(
        conn, user, subscription_id, status=status_, limit=limit, offset=offset
    )


@router.get("/subscriptions/{subscription_id}/deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(subscription_id: Id, delivery_id: Id, conn: Conn, user: Subscriber) -> dict[str, Any]:
    return subscription_service.delivery(conn, user, subscription_id, delivery_id)


@router.post(
    "/subscriptions/{subscription_id}/test",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def send_test_notification(
    subscription_id: Id,
    audit: Annotated[Audit, audited("subscription.test", "subscription", "subscription_id")],
    conn: Conn,
    user: Subscriber,
) -> dict[str, Any]:
    """Queue a signed test notification to this subscription (`action: test`, no case, event id
    `test-N`), tried once: follow its delivery for the receiver's answer."""
    queued = subscription_service.send_test(conn, user, subscription_id)
    audit.details["delivery"] = queued["id"]
    return queued


@router.post("/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
def retry_delivery(
    subscription_id: Id,
    delivery_id: Id,
    audit: Annotated[Audit, audited("subscription.retry", "subscription", "subscription_id")],
    conn: Conn,
    user: Subscriber,
) -> dict[str, Any]:
    """Try a dead delivery again from its first attempt; 409 if it is not dead."""
    audit.details["delivery"] = delivery_id
    return subscription_service.retry(conn, user, subscription_id, delivery_id)
