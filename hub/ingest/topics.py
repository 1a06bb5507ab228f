"""The topic grammar: `{prefix}/{community}/{kind}/{device_id}/{channel}`."""

from dataclasses import dataclass

from hub.domain.devices import Channel, DeviceKind

_KINDS = {k.value: k for k in DeviceKind}
_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class Topic:
    community: str
    kind: DeviceKind
    device_id: str
    channel: Channel


class TopicError(ValueError):
    pass


_PARSED_LIMIT = 100_000
_parsed: dict[str, tuple[str, Topic]] = {}
"""Topic string → (prefix, parsed topic). A fleet sends on a few topics per device, so each one is
split and looked up once rather than per message; cleared when full, so any number of topics is
bounded. Only valid topics are kept."""


def parse(topic: str, prefix: str) -> Topic:
    hit = _parsed.get(topic)
    if hit is not None and hit[0] == prefix:
        return hit[1]
    parsed = _parse(topic, prefix)
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.clear()
    _parsed[topic] = (prefix, parsed)
    return parsed


def _parse(topic: str, prefix: str) -> Topic:
    if not topic.startswith(prefix + "/"):
        raise TopicError(f"topic outside {prefix}/")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 4:
        raise TopicError("topic must be {prefix}/{community}/{kind}/{device_id}/{channel}")
    community, kind, device_id, channel = parts
    if kind not in _KINDS:
        raise TopicError(f"unknown device kind {kind!r} in topic")
    if channel not in _CHANNELS:
        raise TopicError(f"unknown channel {channel!r} in topic (telemetry, event or status)")
    return Topic(community, _KINDS[kind], device_id, _CHANNELS[channel])


def origin(topic: str, prefix: str) -> tuple[str, str, str] | None:
    """(community, kind, device id) as the topic names them, checked no further: where a refused
    message says it comes from."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 4 else None


def build(prefix: str, community: str, kind: str, device_id: str, channel: str) -> str:
    return f"{prefix}/{community}/{kind}/{device_id}/{channel}"
