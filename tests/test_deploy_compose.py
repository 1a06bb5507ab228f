"""The compose deployment can only be started where Docker runs, so a mismatch between docker-compose.yml,
the hub's settings, the Mosquitto config and the Grafana provisioning would otherwise surface only as a
broken deployment."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
MOSQUITTO_CONF_TARGET = "/mosquitto/config/mosquitto.conf"
GRAFANA_PROVISIONING = ROOT / "dashboards" / "grafana" / "provisioning"
DATASOURCE_FILE = GRAFANA_PROVISIONING / "datasources" / "timescaledb.yaml"
DASHBOARD_PROVIDER_FILE = GRAFANA_PROVISIONING / "dashboards" / "hub.yaml"
GRAFANA_DASHBOARDS = ROOT / "dashboards" / "grafana" / "dashboards"

EXPECTED_SERVICES = {"timescaledb", "hub", "mosquitto", "simulator", "grafana"}
MQTT_AUTH_VOLUME = "mqtt-auth"
HEALTH_PATH = "/api/v1/health"
LOOPBACK = "127.0.0.1"

SECRET_ENV_KEY = re.compile(r"POSTGRES_PASSWORD|GF_SECURITY_ADMIN_PASSWORD|HUB_\w*(?:PASSWORD|KEY)")
ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?::?[?-][^}]*)?\}")

Service = dict[str, Any]


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/", "~"))


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.relative_to(ROOT)} is not a YAML mapping"
    return data


def _environment(service: Service) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _mounts(service: Service) -> list[Mount]:
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append(Mount(entry["source"], entry["target"], bool(entry.get("read_only", False))))
            continue
        source, target, *options = entry.split(":")
        mounts.append(Mount(source, target, "ro" in ",".join(options).split(",")))
    return mounts


def _mount_of(service: Service, source: str) -> Mount:
    matching = [mount for mount in _mounts(service) if mount.source == source]
    assert len(matching) == 1, f"expected exactly one mount of {source!r}, found {matching}"
    return matching[0]


def _published_ports(service: Service) -> list[PublishedPort]:
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(
                PublishedPort(str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"]))
            )
            continue
        parts = str(entry).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        ports.append(PublishedPort(host_ip, int(parts[-2] if len(parts) > 1 else parts[-1]), int(parts[-1])))
    return ports


def _only_container_port(service: Service) -> int:
    container_ports = {port.container_port for port in _published_ports(service)}
    assert len(container_ports) == 1, f"expected one published container port, found {container_ports}"
    return container_ports.pop()


def _command(service: Service) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def _healthcheck(service: Service) -> str:
    test = service.get("healthcheck", {}).get("test", "")
    if isinstance(test, str):
        return test
    return " ".join(str(part) for part in test if part not in {"CMD", "CMD-SHELL"})


def _mosquitto_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            directives.setdefault(words[0], []).append(" ".join(words[1:]))
    return directives


def _option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    return dict(compose["services"])


@pytest.fixture(scope="module")
def hub_env(services: dict[str, Service]) -> dict[str, str]:
    return _environment(services["hub"])


def test_compose_defines_exactly_the_deployment_services(services: dict[str, Service]) -> None:
    assert set(services) == EXPECTED_SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"
    for name in ("hub", "simulator"):
        assert services[name].get("build") == ".", f"{name} must run the project's own image"
    assert DOCKERFILE.is_file()


def test_every_hub_environment_key_is_a_setting(hub_env: dict[str, str]) -> None:
    unknown = sorted(
        key
        for key in hub_env
        if key.startswith("HUB_") and key.removeprefix("HUB_").lower() not in Settings.model_fields
    )
    assert unknown == [], f"hub environment keys that hub.settings.Settings ignores: {unknown}"


def test_hub_database_url_targets_the_timescaledb_service(
    services: dict[str, Service], hub_env: dict[str, str]
) -> None:
    db_env = _environment(services["timescaledb"])
    url = urlsplit(hub_env["HUB_DATABASE_URL"])
    assert url.hostname == "timescaledb"
    assert url.port == _only_container_port(services["timescaledb"])
    assert url.username == db_env["POSTGRES_USER"]
    assert url.path.removeprefix("/") == db_env["POSTGRES_DB"]
    assert url.password is not None
    assert ENV_REFERENCE.fullmatch(url.password), "the database URL must not embed a literal password"


def test_hub_reaches_mosquitto_on_its_listener(services: dict[str, Service], hub_env: dict[str, str]) -> None:
    listeners = _mosquitto_directives()["listener"]
    assert len(listeners) == 1, f"expected one listener in {MOSQUITTO_CONF.name}, found {listeners}"
    listener_port = int(listeners[0].split()[0])
    assert hub_env["HUB_MQTT_HOST"] == "mosquitto"
    assert int(hub_env["HUB_MQTT_PORT"]) == listener_port
    assert _only_container_port(services["mosquitto"]) == listener_port


def test_hub_api_port_is_published_and_health_checked(
    services: dict[str, Service], hub_env: dict[str, str]
) -> None:
    api_port = int(hub_env["HUB_API_PORT"])
    assert hub_env["HUB_API_HOST"] == "0.0.0.0", "the API must listen beyond the container's loopback"
    assert _only_container_port(services["hub"]) == api_port
    assert f"http://127.0.0.1:{api_port}{HEALTH_PATH}" in _healthcheck(services["hub"])
    assert re.search(rf"^EXPOSE\s+{api_port}\b", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)


def test_simulator_targets_the_hub_api_and_the_broker(
    services: dict[str, Service], hub_env: dict[str, str]
) -> None:
    args = shlex.split(_command(services["simulator"]))
    api = urlsplit(_option(args, "--api"))
    assert (api.hostname, api.port) == ("hub", int(hub_env["HUB_API_PORT"]))
    assert _option(args, "--mqtt-host") == hub_env["HUB_MQTT_HOST"]
    assert _option(args, "--mqtt-port") == hub_env["HUB_MQTT_PORT"]


def test_published_ports_are_reachable_from_loopback_only(services: dict[str, Service]) -> None:
    exposed = {
        name: port
        for name, service in services.items()
        for port in _published_ports(service)
        if port.host_ip != LOOPBACK
    }
    assert exposed == {}


def test_bind_mounted_host_paths_exist(services: dict[str, Service]) -> None:
    missing = [
        f"{name}: {mount.source}"
        for name, service in services.items()
        for mount in _mounts(service)
        if mount.is_bind and not (ROOT / mount.source).exists()
    ]
    assert missing == []


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Service]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {mount.source for service in services.values() for mount in _mounts(service) if not mount.is_bind}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"


def test_mosquitto_authenticates_against_the_files_the_hub_writes(
    services: dict[str, Service], hub_env: dict[str, str]
) -> None:
    mosquitto = services["mosquitto"]
    config_mounts = [mount for mount in _mounts(mosquitto) if mount.target == MOSQUITTO_CONF_TARGET]
    assert len(config_mounts) == 1
    assert (ROOT / config_mounts[0].source).resolve() == MOSQUITTO_CONF

    directives = _mosquitto_directives()
    assert directives["allow_anonymous"] == ["false"]
    broker_auth = _mount_of(mosquitto, MQTT_AUTH_VOLUME)
    assert broker_auth.read_only, "only the hub may write the broker's credentials"
    auth_files = [directives["password_file"][0], directives["acl_file"][0]]
    for path in auth_files:
        assert PurePosixPath(path).parent == PurePosixPath(broker_auth.target), path

    hub_auth = _mount_of(services["hub"], MQTT_AUTH_VOLUME)
    assert not hub_auth.read_only
    assert PurePosixPath(hub_env["HUB_MQTT_AUTH_DIR"]) == PurePosixPath(hub_auth.target)


def test_mosquitto_reloads_changed_auth_files(services: dict[str, Service]) -> None:
    """Mosquitto 2.0 reads password and ACL files only at start and on SIGHUP, so without the reload loop
    devices provisioned after start-up could not connect."""
    command = _command(services["mosquitto"])
    directives = _mosquitto_directives()
    assert "kill -HUP" in command
    for path in (directives["password_file"][0], directives["acl_file"][0], MOSQUITTO_CONF_TARGET):
        assert path in command
    assert "$" not in command.replace("$$", ""), "an unescaped $ would be interpolated by compose, not sh"


def test_grafana_datasource_points_at_timescaledb(services: dict[str, Service]) -> None:
    datasources = _load_yaml(DATASOURCE_FILE)["datasources"]
    (source,) = [ds for ds in datasources if ds["name"] == "TimescaleDB"]
    db_env = _environment(services["timescaledb"])
    host, _, port = source["url"].rpartition(":")
    assert host == "timescaledb"
    assert int(port) == _only_container_port(services["timescaledb"])
    assert source["jsonData"]["database"] == db_env["POSTGRES_DB"] == "hub"
    assert source.get("database", "hub") == "hub"
    assert source["user"] == db_env["POSTGRES_USER"]

    db_password = ENV_REFERENCE.fullmatch(db_env["POSTGRES_PASSWORD"])
    grafana_password = ENV_REFERENCE.fullmatch(_environment(services["grafana"]).get("HUB_DB_PASSWORD", ""))
    assert db_password
    assert grafana_password
    assert grafana_password["name"] == db_password["name"]
    assert source["secureJsonData"]["password"] == "$HUB_DB_PASSWORD"


def test_grafana_mounts_the_provisioned_paths(services: dict[str, Service]) -> None:
    grafana = services["grafana"]
    provisioning = [m for m in _mounts(grafana) if (ROOT / m.source).resolve() == GRAFANA_PROVISIONING]
    assert [m.target for m in provisioning] == ["/etc/grafana/provisioning"]
    dashboards = [m for m in _mounts(grafana) if (ROOT / m.source).resolve() == GRAFANA_DASHBOARDS]
    (provider,) = _load_yaml(DASHBOARD_PROVIDER_FILE)["providers"]
    assert [m.target for m in dashboards] == [provider["options"]["path"]]


def test_no_secret_is_a_literal(services: dict[str, Service]) -> None:
    literals = [
        f"{name}: {key}"
        for name, service in services.items()
        for key, value in _environment(service).items()
        if SECRET_ENV_KEY.fullmatch(key) and not ENV_REFERENCE.fullmatch(value)
    ]
    assert literals == []
