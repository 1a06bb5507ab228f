"""Refused messages: a reason is free text whose leading word is its code (`rate_limited: …`,
`unregistered device 'x'`, `decommissioned: …`), which the ingest metrics, the dead-letter store and the
API's filters share."""

DECOMMISSIONED = "decommissioned"
UNREGISTERED = "unregistered"


def reason_code(reason: str) -> str:
    """The word before the first colon or space."""
    return reason.split(":", 1)[0].split(" ", 1)[0]
