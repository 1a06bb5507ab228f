"""Photos attached to residents' reports: decoded from base64 and typed by their magic bytes, never by
what the client claims, so only real JPEG and PNG files are stored and served back."""

import base64
import binascii
from dataclasses import dataclass

from hub.domain.errors import Invalid, TooLarge, Unsupported

MAX_PHOTO_BYTES = 2 * 1024 * 1024
_MAX_BASE64_CHARS = 4 * -(-MAX_PHOTO_BYTES // 3)
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class PhotoRejected(Invalid):
    pass


class PhotoTooLarge(PhotoRejected, TooLarge):
    pass


class PhotoNotAnImage(PhotoRejected, Unsupported):
    pass


@dataclass(frozen=True)
class Photo:
    content_type: str
    data: bytes


def decode_photo(encoded: str) -> Photo:
    if len(encoded) > _MAX_BASE64_CHARS:
        raise PhotoTooLarge(f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PhotoRejected("the photo is not valid base64") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return Photo(content_type, data)
    raise PhotoNotAnImage("the photo must be a JPEG or PNG file")
