"""A community's own settings as the admin console sets them."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Community:
    id: str
    name: str
    name_zh: str | None
    timezone: str | None
    """IANA name of the site's time zone"""
    calendar: str | None
    """the routing file's named working calendar it follows; None: the file's `calendar`"""
    latitude: float | None
    longitude: float | None


Place = Literal["grid", "building"]
"""the named parts of a community's site"""
