"""MQTT over TLS: a Mosquitto with the rendered TLS listener, a CA and server certificate made with the
`openssl` command line, the hub ingesting over TLS, and clients without the CA refused."""

import json
import os
import pwd
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker.config import TlsListener, render
from hub.devices.service import register
from tests.support.processes import HubProcess, poll
from tests.support.publisher import smoke
from tests.support.services import ROOT, Broker, free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def make_pki(d: Path) -> Pki:
    """A test CA, a server certificate it signed for 127.0.0.1/localhost, and an unrelated CA."""
    d.mkdir(parents=True)
    make_ca(d, "hub-test-ca")
    make_ca(d, "stranger-ca")
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=d,
    )  # fmt: skip
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "hub-test-ca.crt", "-CAkey", "hub-test-ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
        cwd=d,
    )  # fmt: skip
    for f in d.iterdir():
        f.chmod(0o644)  # the broker reads them after dropping to the mosquitto user
    if os.geteuid() == 0:
        uid = pwd.getpwnam("mosquitto").pw_uid
        os.chown(d, uid, -1)
        for f in d.iterdir():
            os.chown(f, uid, -1)
    return Pki(d / "hub-test-ca.crt", d / "server.crt", d / "server.key", d / "stranger-ca.crt")


@pytest.fixture
def tls_broker() -> Iterator[tuple[Broker, TlsListener, Pki]]:
    b = Broker()
    pki = make_pki(b.dir / "tls")
    listener = TlsListener(port=free_port(), cafile=pki.ca, certfile=pki.cert, keyfile=pki.key)
    b.configure(tls=listener)
    b.start()
    yield b, listener, pki
    b.cleanup()


def test_render_puts_the_tls_options_under_their_own_listener(tmp_path: Path) -> None:
    template = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text() + "\ncafile /stale/ca.crt\n"
    tls = TlsListener(8883, tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key")
    kw: dict[str, Any] = {
        "port": 1884,
        "auth_dir": tmp_path,
        "data_dir": tmp_path,
        "log_file": tmp_path / "log",
        "pid_file": tmp_path / "pid",
    }
    lines = render(template, tls=tls, **kw).splitlines()
    assert "cafile /stale/ca.crt" not in lines
    plain, secure = lines.index("listener 1884 127.0.0.1"), lines.index("listener 8883 127.0.0.1")
    assert plain < secure
    assert lines[secure + 1 :] == [
        f"cafile {tmp_path / 'ca.crt'}",
        f"certfile {tmp_path / 'server.crt'}",
        f"keyfile {tmp_path / 'server.key'}",
        "require_certificate false",
        "tls_version tlsv1.2",
    ]
    assert "allow_anonymous false" in lines and "per_listener_settings false" in lines
    plain_only = render(template, **kw).splitlines()
    assert not any(line.startswith(("cafile", "certfile", "keyfile")) for line in plain_only)
    assert [line for line in plain_only if line.startswith("listener")] == ["listener 1884 127.0.0.1"]
    with pytest.raises(ValueError, match="white space"):
        render(template, tls=TlsListener(8883, Path("/a b/ca.crt"), Path("/c"), Path("/k")), **kw)


class TlsClient:
    def __init__(
        self, port: int, username: str, password: str, *, ca: Path | None, use_tls: bool = True
    ) -> None:
        self.connected = threading.Event()
        self.refused: str | None = None
        self.acked = 0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        c.username_pw_set(username, password)
        if use_tls:
            # ca=None: the system's trust store, which does not know the test CA
            c.tls_set(ca_certs=str(ca) if ca else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        self.client = c
        self.port = port

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self.connected.set()

    def _on_publish(self, *_a: Any) -> None:
        self.acked += 1

    def connect(self, timeout: float = 5) -> bool:
        """True when the broker accepted the session; False (or an error) when it was refused."""
        self.client.connect("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        ok = self.connected.wait(timeout) and self.refused is None
        if not ok:
            self.client.loop_stop()
        return ok

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_hub_ingests_over_tls_and_clients_without_the_ca_are_refused(
    tls_broker: tuple[Broker, TlsListener, Pki],
    conn: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    broker, listener, pki = tls_broker
    created = register(conn, [{"id": "tls-sd1", "kind": "smoke_detector", "community": "tlsc"}])
    password = created[0].mqtt_password
    assert password
    hub = HubProcess(
        database_url,
        broker,
        tmp_path,
        HUB_MQTT_PORT=str(listener.port),
        HUB_MQTT_TLS_CA_FILE=str(pki.ca),
    )
    hub.start()  # healthy means connected and subscribed: over TLS, since that port speaks nothing else
    try:
        device = TlsClient(listener.port, "tls-sd1", password, ca=pki.ca)
        assert device.connect(), device.refused
        for seq in range(10):
            device.client.publish(
                "sc/v1/tlsc/smoke_detector/tls-sd1/telemetry",
                json.dumps(smoke("tls-sd1", seq, at=datetime.now(UTC))),
                qos=1,
            )
        assert poll(lambda: device.acked == 10, timeout=10)
        device.close()
        stored = "SELECT count(*) FROM telemetry_smoke WHERE device_id = 'tls-sd1'"
        assert poll(lambda: conn.execute(stored).fetchone() == (10,), timeout=10), hub.log()
        assert "connected to MQTT broker 127.0.0.1:" + str(listener.port) in hub.log()
    finally:
        hub.stop()

    # a client that does not trust the test CA: the handshake fails, whatever its credentials
    for ca in (None, pki.other_ca):
        stranger = TlsClient(listener.port, "tls-sd1", password, ca=ca)
        with pytest.raises(ssl.SSLCertVerificationError):
            stranger.connect()
    # plain MQTT on the TLS port gets no session
    plain = TlsClient(listener.port, "tls-sd1", password, ca=None, use_tls=False)
    assert not plain.connect(timeout=3)
    # and the right CA with a wrong password is still refused by the broker's authentication
    wrong = TlsClient(listener.port, "tls-sd1", "not-the-password", ca=pki.ca)
    assert not wrong.connect()
    assert wrong.refused
