"""A community's site-plan image (communities.plan_image)."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


def put(conn: psycopg.Connection[Any], community: str, content_type: str, data: bytes, at: datetime) -> bool:
    """Store the image; False when there is no such community."""
    row = conn.execute(
        "UPDATE communities SET plan_image = %s, plan_image_type = %s, plan_image_at = %s WHERE id = %s "
        "RETURNING id",
        (data, content_type, at, community),
    ).fetchone()
    return row is not None


def get(conn: psycopg.Connection[Any], community: str) -> dict[str, Any] | None:
    """{content_type, data, updated_at}, or None when the community has no image (or does not exist)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT plan_image_type AS content_type, plan_image AS data, plan_image_at AS updated_at "
            "FROM communities WHERE id = %s AND plan_image IS NOT NULL",
            (community,),
        ).fetchone()


def delete(conn: psycopg.Connection[Any], community: str) -> bool:
    """Remove the image; False when the community had none."""
    row = conn.execute(
        "UPDATE communities SET plan_image = NULL, plan_image_type = NULL, plan_image_at = NULL "
        "WHERE id = %s AND plan_image IS NOT NULL RETURNING id",
        (community,),
    ).fetchone()
    return row is not None
