"""Refused messages: a reason is free text whose leading word is its code (`rate_limited: …`,
`unregistered device 'x'`, `decommissioned: …`), which the ingest metrics, the dead-letter store and the
API's filters share."""

DECOMMISSIONED = "decommissioned"
UNREGISTERED = "unregistered"


def reason_code(reason: str) -> str:
    """The word before the first colon or space."""
    return reason.split(":", 1)[0].split(" ", 1)[0]


CODES = (
    "wrong",  # wrong topic
    UNREGISTERED,
    DECOMMISSIONED,
    "topic",  # the topic's community or kind is not the registered one
    "payload",  # too large, or naming another device
    "invalid",  # not valid JSON for the kind
    "event",  # an event the kind does not define
    "ts",  # a device time too far ahead or too old
    "rate_limited",
    "internal",  # a bug isolated to one message
)
"""Every code ingest writes (tests/test_decode.py checks the decoder's)."""
