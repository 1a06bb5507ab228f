"""paho-mqtt's client, made to keep up with thousands of small messages a second.

Stock paho reads each packet with three or four `recv` calls and one trip through its select loop,
and sends each acknowledgement as its own socket write plus a wake-up of the network thread. At
10,000 messages a second that costs the hub more CPU than decoding and storing them. This subclass
reads the socket in large chunks (exposed through `pending()`, the hook paho already honours for TLS
buffers), handles every complete packet it has before going back to select, and writes a batch's
acknowledgements as one packet. With MQTT 3.1.1 and an `on_publishes` callback, the QoS 0/1 PUBLISH
packets of a chunk are split in one pass (`frames`) and handed over as one list, without paho's
per-byte header reads and message objects; every other packet (and a PUBLISH cut by the chunk's end)
goes through paho's own reader, which keeps the connection, subscriptions, keep-alive and session.
Nothing else changes at the broker: a QoS 1 message is still acknowledged only through `ack_many`, so
one the hub never acknowledged is redelivered to the session. It overrides paho internals, so
paho-mqtt is pinned to one version (2.2.0) and tests/test_mqtt_client.py runs it against Mosquitto.
"""

import ssl
import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from hub.ingest.frames import Publish, split_publishes
from hub.ingest.thread_names import name_os_thread

MQTT_THREAD = "ingest-mqtt"
"""The network thread of every session, as the operating system names it."""
_PUBACK = 0x40
_READ_CHUNK = 256 * 1024
_PACKETS_PER_READ = 1000
"""Bounded so the loop still comes round to write acknowledgements and keep-alives."""


class _ReadBuffer:
    """A socket whose reads are served from one large `recv`; everything else goes to the socket."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = self._sock.recv(max(n, _READ_CHUNK))
            self._pos = 0
            if not self._buf:
                return b""
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def fill(self) -> tuple[bytes, int]:
        """The unread part of the buffer (bytes, start), reading the next chunk first if it is all read;
        empty at the end of the stream."""
        if self._pos >= len(self._buf):
            self._buf = self._sock.recv(_READ_CHUNK)
            self._pos = 0
        return self._buf, self._pos

    def consume(self, pos: int) -> None:
        self._pos = pos

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BatchingClient(mqtt.Client):
    on_publishes: Callable[[list[Publish]], None] | None = None
    """Takes the PUBLISH packets split from one chunk; while None, every message goes to `on_message`."""

    def _thread_main(self) -> None:
        name_os_thread(MQTT_THREAD)
        super()._thread_main()

    def _create_socket(self) -> Any:
        return _ReadBuffer(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(max(max_packets, _PACKETS_PER_READ)):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_read(self) -> MQTTErrorCode:
        sock = self._sock
        on_publishes = self.on_publishes
        if (
            on_publishes is None
            or self._protocol != mqtt.MQTTv311
            or self._in_packet["command"] != 0
            or not isinstance(sock, _ReadBuffer)
        ):
            return super()._packet_read()
        try:
            buf, pos = sock.fill()
        except (BlockingIOError, ssl.SSLWantReadError):
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except ssl.SSLWantWriteError:
            self._call_socket_register_write()
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError:
            return super()._packet_read()  # paho logs the error and reports the connection lost
        messages, end = split_publishes(buf, pos)
        if not messages:
            return super()._packet_read()
        sock.consume(end)
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        on_publishes(messages)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        """The hub adds no per-topic callbacks, so paho's topic matcher, which costs more than the
        callback itself, is skipped."""
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages (MQTT 3.1.1 PUBACKs) in one write."""
        if mids:
            packet = b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in mids)
            self._packet_queue(_PUBACK, packet, 0, 1)
