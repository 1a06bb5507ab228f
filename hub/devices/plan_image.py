"""A community's site-plan image: a PNG or JPEG file, typed by its magic bytes (never by what the client
claims), so only real images are stored and served back, and no larger than MAX_PLAN_IMAGE_BYTES."""

from hub.domain.errors import Invalid, TooLarge, Unsupported

MAX_PLAN_IMAGE_BYTES = 5 * 1024 * 1024
"""An aerial photo or a scanned plan of a few thousand pixels a side fits; the dashboard loads it whole."""
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def too_large() -> TooLarge:
    return TooLarge(f"the plan image is larger than {MAX_PLAN_IMAGE_BYTES // (1024 * 1024)} MB")


def image_type(data: bytes, declared: str | None) -> str:
    """The image's content type, checked against the one the client declared (when it did)."""
    if not data:
        raise Invalid("the plan image is empty: send the PNG or JPEG file as the request body")
    if len(data) > MAX_PLAN_IMAGE_BYTES:
        raise too_large()
    found = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if found is None:
        raise Unsupported("the plan image must be a PNG or JPEG file")
    wanted = (declared or "").split(";")[0].strip().lower()
    if wanted not in ("", "application/octet-stream", found):
        raise Unsupported(f"the file is {found}, but the request says Content-Type: {wanted}")
    return found
