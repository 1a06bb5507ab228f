"""Render the one Mosquitto configuration (deploy/mosquitto/mosquitto.conf) for a local broker.

docker-compose mounts the file as is; the run script and the tests change only where it listens and
where its files live, so every broker the hub meets runs the same limits and the same security.
"""

from pathlib import Path

_REPLACED = ("listener", "password_file", "acl_file", "persistence_location", "log_dest", "pid_file")


def render(
    template: str, *, port: int, auth_dir: Path, data_dir: Path, log_file: Path, pid_file: Path
) -> str:
    kept = [line for line in template.splitlines() if line.split(" ", 1)[0] not in _REPLACED]
    return "\n".join(
        [
            *kept,
            f"listener {port} 127.0.0.1",
            f"password_file {auth_dir / 'passwd'}",
            f"acl_file {auth_dir / 'acl'}",
            f"persistence_location {data_dir}/",
            f"log_dest file {log_file}",
            f"pid_file {pid_file}",
            "",
        ]
    )
