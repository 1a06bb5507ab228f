"""Refused messages: a reason is free text whose leading word is its code (`rate_limited: …`,
`unregistered device 'x'`, `decommissioned: …`), which the ingest metrics, the dead-letter store and the
API's filters share."""

from enum import StrEnum

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
    "adapter",  # a vendor message an adapter could not map (its step says where)
)
"""Every code ingest writes (tests/test_decode.py checks the decoder's)."""


class AdapterStep(StrEnum):
    """Where a message that came through an adapter was refused: a dead letter names it so the adapter's
    author knows which part of the file to fix."""

    SOURCE = "source"  # the vendor's bytes: not JSON, not base64, too large
    DEVICE = "device"  # the device reference is missing or names no registered device
    FIELD = "field"  # a field, the time or the sequence number could not be mapped
    CONTRACT = "contract"  # the mapped message fails the device contract, as a native one would
    RATE_LIMIT = "rate_limit"  # the device is over its rate limit
