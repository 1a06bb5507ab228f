"""A minimal MQTT 3.1.1 publisher over a plain socket, for the load generator only.

Why not paho-mqtt: the benchmark machine has two cores shared by the load generator, the broker,
PostgreSQL and the hub under test. paho spends about 135 µs of CPU per QoS 1 message (message
objects, locks, callbacks: ~7,400 msg/s per process), so 10,000 msg/s would take more than a core away
from the system being measured. This client writes batches of PUBLISH packets with one `sendall` and
only counts PUBACKs, a few µs per message, so the hub gets the CPU it would have in production.

It does exactly what the benchmark needs and nothing more: CONNECT with user name and password,
PUBLISH at QoS 0 or 1, count PUBACKs, DISCONNECT. No TLS, no reconnect, no QoS 2, no subscriptions;
a lost connection is an error that ends the run, because a benchmark that silently reconnects would
report numbers for a different experiment.
"""

import select
import socket
import time
from collections.abc import Iterable

_CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
_PUBACK = 4
# Packet ids are 16 bit; a publisher must never have two messages in flight with the same id.
MAX_PACKET_ID = 65535


class WireError(ConnectionError):
    pass


def _remaining_length(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    if n < 16384:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def encode_topic(topic: str) -> bytes:
    """The length-prefixed topic, computed once per device rather than once per message."""
    return _string(topic.encode())


class Publisher:
    """One broker connection. Not thread-safe: each thread or process owns its publishers."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str,
        password: str,
        keepalive_s: int = 60,
        timeout_s: float = 10.0,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Protocol level 4 (3.1.1); flags: user name, password, clean session.
            variable = _string(b"MQTT") + bytes((4, 0xC2)) + keepalive_s.to_bytes(2, "big")
            body = (
                variable
                + _string(client_id.encode())
                + _string(username.encode())
                + _string(password.encode())
            )
            sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
            connack = b""
            while len(connack) < 4:
                chunk = sock.recv(4 - len(connack))
                if not chunk:
                    raise WireError("broker closed the connection before CONNACK")
                connack += chunk
            if connack[0] != 0x20:
                raise WireError(f"expected CONNACK, got packet type {connack[0] >> 4}")
            if connack[3] != 0:
                raise ConnectionRefusedError(
                    f"broker refused {username!r}: {_CONNACK_REASONS.get(connack[3], connack[3])}"
                )
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._pending = b""
        self._next_id = 0
        self.published = 0
        self.acked = 0

    @property
    def in_flight(self) -> int:
        """QoS 1 messages written but not yet acknowledged (meaningless at QoS 0)."""
        return self.published - self.acked

    def publish_many(self, messages: Iterable[tuple[bytes, bytes]], qos: int) -> int:
        """Write (encoded topic, payload) pairs in one system call; returns how many were written.

        Blocking on purpose: if the broker cannot take more, the generator slows down and the shortfall
        shows up in the report instead of in an unbounded client-side queue.
        """
        parts: list[bytes] = []
        if qos == 0:
            for topic, payload in messages:
                parts.append(b"\x30" + _remaining_length(len(topic) + len(payload)) + topic + payload)
        else:
            next_id = self._next_id
            for topic, payload in messages:
                next_id = next_id % MAX_PACKET_ID + 1
                parts.append(
                    b"\x32"
                    + _remaining_length(len(topic) + 2 + len(payload))
                    + topic
                    + next_id.to_bytes(2, "big")
                    + payload
                )
            self._next_id = next_id
        if parts:
            self._sock.sendall(b"".join(parts))
        self.published += len(parts)
        if qos == 0:
            self.acked += len(parts)
        return len(parts)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Read whatever the broker sent, waiting at most `timeout_s`; returns PUBACKs counted."""
        if timeout_s > 0:
            readable, _, _ = select.select([self._sock], [], [], timeout_s)
            if not readable:
                return 0
        try:
            data = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0
        if not data:
            raise WireError("broker closed the connection")
        return self._parse(self._pending + data if self._pending else data)

    def wait_acked(self, timeout_s: float) -> bool:
        """Wait until every QoS 1 message written so far is acknowledged, or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.poll(min(remaining, 0.1))
        return True

    def _parse(self, buf: bytes) -> int:
        acks = 0
        i, n = 0, len(buf)
        while i + 2 <= n:
            # Fast path: a PUBACK is always exactly 0x40 0x02 <id:2>.
            if buf[i] == 0x40 and buf[i + 1] == 0x02:
                if i + 4 > n:
                    break
                acks += 1
                i += 4
                continue
            length, shift, j = 0, 0, i + 1
            complete = False
            while j < n:
                byte = buf[j]
                length |= (byte & 0x7F) << shift
                j += 1
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
            if not complete or j + length > n:
                break
            if buf[i] >> 4 == _PUBACK:
                acks += 1
            i = j + length  # PINGRESP and anything else: skipped
        self._pending = buf[i:]
        self.acked += acks
        return acks

    def close(self) -> None:
        """Send DISCONNECT (so the broker publishes no Last Will) and close; never raises."""
        try:
            self._sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        finally:
            self._sock.close()
