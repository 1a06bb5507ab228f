"""What a clustered broker asks about an MQTT client, in the broker-neutral terms the hub answers in."""

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a client wants to do with a topic (RabbitMQ says write/read, EMQX publish/subscribe)."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


@dataclass(frozen=True)
class Grants:
    """What one broker account may do: the MQTT topic filters it may write and read."""

    username: str
    write_topics: tuple[str, ...]
    read_topics: tuple[str, ...]
