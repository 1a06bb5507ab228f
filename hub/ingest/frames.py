"""MQTT 3.1.1 PUBLISH packets split straight out of a receive buffer. Pure: bytes in, messages out.

paho reads a packet with one call per byte of its header and builds a message object for each; at
tens of thousands of messages a second that is the largest single cost of the hub's receive path. A
backlog arrives as a buffer holding hundreds of PUBLISH packets back to back, so this splits them in
one pass. It stops at the first packet it does not take: anything but a QoS 0 or 1 PUBLISH, a packet
not yet complete, or one it finds malformed; paho's own reader carries on from there, with its own
handling and errors.
"""

from typing import NamedTuple

_PUBLISH = 0x30
_MAX_LENGTH_BYTES = 4


class Publish(NamedTuple):
    topic: str
    payload: bytes
    mid: int
    """the packet identifier; 0 at QoS 0"""
    qos: int


def split_publishes(buf: bytes, pos: int) -> tuple[list[Publish], int]:
    """The complete QoS 0/1 PUBLISH packets at the front of `buf[pos:]`, and where the first packet
    not taken starts."""
    out: list[Publish] = []
    n = len(buf)
    while pos < n:
        header = buf[pos]
        qos = (header >> 1) & 3
        if header & 0xF0 != _PUBLISH or qos > 1:
            break
        length = shift = 0
        i = pos + 1
        while True:
            if i >= n or i - pos > _MAX_LENGTH_BYTES:
                return out, pos
            byte = buf[i]
            i += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        end = i + length
        if end > n or length < 2:
            break
        topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
        body = topic_end + 2 if qos else topic_end
        if body > end:
            break
        try:
            topic = buf[i + 2 : topic_end].decode()
        except UnicodeDecodeError:
            break
        mid = (buf[topic_end] << 8) | buf[topic_end + 1] if qos else 0
        out.append(Publish(topic, buf[body:end], mid, qos))
        pos = end
    return out, pos
