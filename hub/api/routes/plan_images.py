"""A community's site-plan image: the background the dashboard's site plan draws its devices on. Its
admins and managers upload it (PUT, the PNG or JPEG file as the body); staff of the community read it."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel

from hub.api.audit import Audit, audited
from hub.api.deps import Conn, require
from hub.devices.plan_image import MAX_PLAN_IMAGE_BYTES, too_large
from hub.domain.roles import Role
from hub.domain.users import User
from hub.services import plan_images as plan_image_service

router = APIRouter(tags=["sites"])

Uploader = Annotated[User, Depends(require(Role.ADMIN, Role.MANAGER))]
Reader = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.MANAGER))]
Community = Annotated[str, Path(min_length=1, max_length=100)]
PATH = "/communities/{community}/plan-image"


class PlanImageOut(BaseModel):
    community: str
    content_type: str
    size: int
    updated_at: datetime


async def _body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the limit (a declared length is checked first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_PLAN_IMAGE_BYTES:
        raise too_large()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_PLAN_IMAGE_BYTES:
            raise too_large()
    return bytes(data)


@router.put(
    PATH,
    response_model=PlanImageOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/png": {}, "image/jpeg": {}},
            "description": f"the image file itself, at most {MAX_PLAN_IMAGE_BYTES // (1024 * 1024)} MB",
        }
    },
)
def put_plan_image(
    community: Community,
    request: Request,
    audit: Annotated[Audit, audited("community.plan_image", "community", "community")],
    conn: Conn,
    user: Uploader,
    data: Annotated[bytes, Depends(_body)],
) -> PlanImageOut:
    """Set or replace the plan image (413 over the limit, 415 for anything but PNG or JPEG)."""
    stored = plan_image_service.put(conn, user, community, data, request.headers.get("content-type"))
    audit.community = community
    audit.details.update(content_type=stored["content_type"], size=stored["size"])
    return PlanImageOut.model_validate(stored)


@router.get(
    PATH,
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the image file"}},
)
def get_plan_image(community: Community, conn: Conn, user: Reader) -> Response:
    """The plan image as uploaded; 404 when the community has none (or is outside your communities)."""
    found = plan_image_service.get(conn, user, community)
    return Response(
        bytes(found["data"]), media_type=found["content_type"], headers={"Cache-Control": "private, no-cache"}
    )


@router.delete(PATH, status_code=status.HTTP_204_NO_CONTENT)
def delete_plan_image(
    community: Community,
    audit: Annotated[Audit, audited("community.plan_image_delete", "community", "community")],
    conn: Conn,
    user: Uploader,
) -> Response:
    """Remove the plan image; the site plan then places devices by plan position or latitude/longitude."""
    plan_image_service.delete(conn, user, community)
    audit.community = community
    return Response(status_code=status.HTTP_204_NO_CONTENT)
