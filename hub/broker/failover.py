"""Moving an MQTT client to the next node of a clustered broker when its node dies.

paho reconnects by itself, but always to the address it was first given, and refuses to change that
address (`client.host = …`) while its loop is reconnecting. A client that keeps its session (clean
session off, the same client id) may resume it on any node of a cluster whose sessions are replicated, so
after every lost connection or failed connect attempt the client is pointed at the next address before
paho's next try. This sets paho 2.2's `_host`/`_port` directly (paho-mqtt is pinned to 2.2.x).
"""

import threading
from collections.abc import Sequence

import paho.mqtt.client as mqtt

Address = tuple[str, int]


def parse_addresses(text: str) -> list[Address]:
    """`host:port,host:port` → [(host, port), …]; a clear ValueError naming the bad entry otherwise."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port (e.g. 127.0.0.1:1883)")
        out.append((host, int(port)))
    return out


class Failover:
    """The addresses one client goes round, starting at `start` (so several sessions spread over the
    nodes)."""

    def __init__(self, addresses: Sequence[Address], start: int = 0) -> None:
        if not addresses:
            raise ValueError("no broker address")
        self._addresses = list(addresses)
        self._index = start % len(self._addresses)
        self._lock = threading.Lock()

    @property
    def current(self) -> Address:
        with self._lock:
            return self._addresses[self._index]

    def move_on(self, client: mqtt.Client) -> Address:
        """Point `client` at the next address for paho's next connect attempt; one address: stay."""
        with self._lock:
            self._index = (self._index + 1) % len(self._addresses)
            host, port = self._addresses[self._index]
        client._host = host
        client._port = port
        return host, port
