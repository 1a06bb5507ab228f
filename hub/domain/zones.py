"""Time-zone names as people type them into files and forms: one check, so the routing file's calendar,
a rule's active hours and a community's zone accept and refuse the same names."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def known_zone(name: str) -> str:
    """`name` if it is an IANA zone this machine knows (Asia/Shanghai); ValueError naming it otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(known_zone)]
