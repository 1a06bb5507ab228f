"""Render the one Mosquitto configuration (deploy/mosquitto/mosquitto.conf) for a local broker.

docker-compose mounts the file as is; the run script and the tests change only where it listens and
where its files live, so every broker the hub meets runs the same limits and the same security.

With `tls`, a second listener speaks MQTT over TLS (server certificate only: clients are still
identified by username and password, `require_certificate false`). The plain listener stays on the
loopback interface for the hub and tools on the same host.
"""

from dataclasses import dataclass
from pathlib import Path

_REPLACED = (
    "listener",
    "password_file",
    "acl_file",
    "persistence_location",
    "log_dest",
    "pid_file",
    # listener-level TLS settings belong to the listeners rendered here, not to the template's
    "cafile",
    "capath",
    "certfile",
    "keyfile",
    "require_certificate",
    "use_identity_as_username",
    "tls_version",
)


@dataclass(frozen=True)
class TlsListener:
    """An MQTT-over-TLS listener: the CA that signed the server certificate, the certificate and its key."""

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path
    host: str = "127.0.0.1"
    tls_version: str = "tlsv1.2"  # the oldest version accepted; Mosquitto also negotiates TLS 1.3


def render(
    template: str,
    *,
    port: int,
    auth_dir: Path,
    data_dir: Path,
    log_file: Path,
    pid_file: Path,
    tls: TlsListener | None = None,
) -> str:
    kept = [line for line in template.splitlines() if line.split(" ", 1)[0] not in _REPLACED]
    lines = [
        *kept,
        f"password_file {auth_dir / 'passwd'}",
        f"acl_file {auth_dir / 'acl'}",
        f"persistence_location {data_dir}/",
        f"log_dest file {log_file}",
        f"pid_file {pid_file}",
        # listener options apply to the `listener` line above them, so the listeners come last
        f"listener {port} 127.0.0.1",
    ]
    if tls is not None:
        lines += render_tls_listener(tls)
    return "\n".join([*lines, ""])


def render_tls_listener(tls: TlsListener) -> list[str]:
    for name, path in (("cafile", tls.cafile), ("certfile", tls.certfile), ("keyfile", tls.keyfile)):
        if any(c.isspace() for c in str(path)):
            raise ValueError(f"Mosquitto cannot read a {name} path with white space: {path}")
    return [
        f"listener {tls.port} {tls.host}",
        f"cafile {tls.cafile}",
        f"certfile {tls.certfile}",
        f"keyfile {tls.keyfile}",
        "require_certificate false",
        f"tls_version {tls.tls_version}",
    ]
