"""All hub settings in one place: `HUB_*` environment variables, with `.env` support.

Defaults point at the local services that `scripts/run` starts, so a developer needs no configuration.
"""

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.broker.failover import parse_addresses

_DEV_SECRET = "dev-only-insecure-secret"  # noqa: S105 - refused outside development, see below


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql://hub@127.0.0.1:5433/hub"
    database_read_url: str | None = None
    """A streaming standby of `database_url` for the read-heavy routes (history, KPIs and their reports,
    the public summary, the site plan); unset: every read on the primary (docs/scaling.md, Read
    replica)."""
    database_read_wait_s: float = Field(
        default=1.0, gt=0, description="longest wait for a standby connection before reading on the primary"
    )
    database_read_retry_s: float = Field(
        default=10.0, gt=0, description="after a failed standby, reads stay on the primary this long"
    )

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1884
    mqtt_hosts: str = ""
    """The nodes of a clustered broker, `host:port,host:port`; when set it replaces host and port. A
    session whose node dies resumes on the next node (hub.broker.failover)."""
    mqtt_username: str = "hub"
    mqtt_password: SecretStr = SecretStr(_DEV_SECRET)
    mqtt_client_id: str = "sc-hub-ingest-1"
    mqtt_keepalive_s: int = 30
    mqtt_protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT 5 keeps the session with clean start off and a session expiry; paho's v5 path costs more CPU
    (README, Benchmark)."""
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, gt=0)
    mqtt_tls_ca_file: Path | None = None
    topic_prefix: str = "sc/v1"
    mqtt_auth_dir: Path | None = Field(
        default=None, description="where the hub writes Mosquitto's passwd and acl files on every change"
    )
    mqtt_loadgen_password: SecretStr | None = Field(
        default=None,
        description="if set, a `loadgen` broker account may publish for every device (simulators, benchmark)",
    )
    mqtt_gateway_password: SecretStr | None = Field(
        default=None,
        description="if set, a `gateways` broker account may publish on the topic filters of MQTT adapters",
    )
    mqtt_reload_pidfile: Path | None = Field(
        default=None, description="a broker pid file; the hub sends it SIGHUP after writing the auth files"
    )
    broker_auth_secret: SecretStr | None = None
    """The path segment a clustered broker puts in front of its auth calls
    (`/api/v1/broker-auth/{secret}/rabbitmq/user` …); unset: those routes answer 404. Only the brokers
    know it, so nobody else can test passwords through them (docs/security.md)."""
    broker_auth_rate_per_s: float = Field(default=2000.0, gt=0)
    """Auth calls a second per calling address (one broker node); more are answered 429, which the
    broker takes as a refusal."""
    broker_auth_burst: int = Field(default=5000, gt=0)
    broker_vhost: str = Field(default="hub", min_length=1, max_length=64)
    """The RabbitMQ virtual host the hub's MQTT clients use (`mqtt.vhost`); any other is refused."""

    rules_dir: Path = Path("rules")
    push_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="per carrier-platform integration (`onenet/smoke-nb`): its token; JSON object",
    )
    push_rate_per_s: float = Field(default=50.0, gt=0, description="pushes a second per integration")
    push_burst: int = Field(default=200, gt=0)
    push_commit_timeout_s: float = Field(default=5.0, gt=0, description="longest wait for a push's commit")
    push_max_age_s: int = Field(default=86_400, gt=0, description="older platform times are refused")
    adapters_dir: Path = Field(
        default=Path("adapters"), description="adapter files for vendor devices; reread when they change"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dashboard_dir: Path = Path("dashboards/web")

    admin_password: SecretStr | None = Field(
        default=None, description="if set, the hub creates the `admin` account at start-up when it is missing"
    )
    pseudonym_key: SecretStr = SecretStr(_DEV_SECRET)
    token_ttl_s: int = Field(default=8 * 3600, gt=0)

    batch_max_rows: int = Field(default=2000, gt=0)
    batch_max_delay_ms: int = Field(default=50, gt=0, le=250)
    ingest_queue_max: int = Field(default=50_000, gt=0)
    dead_letter_payload_bytes: int = Field(default=512, gt=0)
    gc_young_threshold: int = Field(default=50_000, ge=700)
    """Allocations between two young collections of Python's garbage collector (`hub/runtime.py`);
    Python's default, 700, costs the hub a third of its CPU at ten thousand messages a second."""
    thread_switch_ms: float = Field(default=0.5, gt=0, le=100)
    """Python's thread switch interval (`hub/runtime.py`); its default, 5 ms, left the database idle
    while the ingest writer thread waited for the GIL."""
    state_flush_s: float = Field(default=2.0, ge=0)
    """Live device state (last seen, last values): a device's row is written once it has waited this
    long, with its newest reading, one row for all its messages meanwhile; the readings themselves are
    committed per batch as always."""
    state_flush_max_devices: int = Field(default=500, ge=1)
    """At most this many waiting devices' state rows written with one batch (devices with a status
    message come on top): a hub that starts hears thousands of devices at once, and their rows in one
    transaction held up the alerts behind it; the rest go with the next batches, oldest first (under a
    load that keeps more devices due, a row waits longer than `state_flush_s`)."""
    ingest_enabled: bool = True
    """False: this worker serves the API and runs the scheduled jobs but takes no ingest partitions."""
    ingest_partitions: int = Field(default=1, gt=0, le=1024)
    """Parts the stream is split into (by community), each one MQTT session served by one worker. Keep it
    the same on every worker; with several workers use a few per worker (README, Scaling out)."""
    worker_id: str = ""
    """This worker's name in the lease table; empty: host name and API port."""
    lease_ttl_s: float = Field(default=10.0, gt=0)
    lease_renew_s: float = Field(default=2.0, gt=0)
    ingest_device_rate_per_s: float = Field(default=10.0, gt=0)
    """Sustained messages a second one device may send; devices report about once a minute."""
    ingest_device_burst: int = Field(default=600, gt=0)
    """Messages a device may send at once before the rate applies (a gateway flushing its buffer)."""
    offline_after_s: int = Field(default=300, gt=0)
    offline_check_interval_s: int = Field(default=30, gt=0)
    notify_poll_interval_ms: int = Field(
        default=250, gt=0, description="how often a drainer looks for due rows"
    )
    notify_batch_size: int = Field(default=20, gt=0)
    notify_concurrency: int = Field(default=8, gt=0, description="deliveries in flight per drainer")
    notify_timeout_s: float = Field(default=5.0, gt=0)
    notify_backoff_base_s: float = Field(
        default=2.0, gt=0, description="first retry delay; doubles per attempt"
    )
    notify_backoff_max_s: float = Field(default=3600.0, gt=0)
    notify_mqtt_max_attempts: int = Field(default=20, gt=0)
    retention_telemetry_days: int = Field(default=400, gt=0)
    retention_device_events_days: int = Field(default=400, gt=0)
    retention_access_events_days: int = Field(default=30, gt=0)
    retention_status_history_days: int = Field(default=400, gt=0)
    retention_dead_letters_days: int = Field(default=90, gt=0)
    retention_rollup_1m_days: int = Field(default=30, gt=0)
    retention_rollup_1h_days: int = Field(default=800, gt=0)
    retention_notifications_days: int = Field(default=14, gt=0, description="delivered notifications")
    retention_audit_days: int = Field(default=400, gt=0, description="audit_log rows, deleted by age")
    retention_job_runs_days: int = Field(default=7, gt=0, description="scheduled job runs, deleted by age")
    retention_idempotency_keys_days: int = Field(
        default=7, gt=0, description="Idempotency-Key answers: a retry after this is a new request"
    )
    retention_interval_s: int = Field(default=3600, gt=0)
    rollup_interval_s: int = Field(default=60, gt=0)
    routing_file: Path = Field(
        default=Path("config/routing.yaml"),
        description="case routing rules, default team and SLA targets; reread when it changes",
    )
    escalation_interval_s: int = Field(default=15, gt=0)
    stragglers_interval_s: int = Field(
        default=60, gt=0, description="how often devices left silent by an outage are looked for"
    )
    no_data_after_s: float = Field(
        default=300.0,
        gt=0,
        description="a device without readings this long freezes its open alerts as `no data`, and readings "
        "further apart break a rule's clear hold",
    )

    @property
    def mqtt_addresses(self) -> list[tuple[str, int]]:
        """Where the broker is: `HUB_MQTT_HOSTS` if set, else `HUB_MQTT_HOST`:`HUB_MQTT_PORT`."""
        return parse_addresses(self.mqtt_hosts) or [(self.mqtt_host, self.mqtt_port)]

    @property
    def worker_name(self) -> str:
        """This worker's name in the lease, rule-load and job-run tables."""
        return self.worker_id or f"{socket.gethostname()}:{self.api_port}"

    @model_validator(mode="after")
    def _broker_addresses_parse(self) -> "Settings":
        try:
            parse_addresses(self.mqtt_hosts)
        except ValueError as exc:
            raise ValueError(f"HUB_MQTT_HOSTS: {exc}") from None
        return self

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> "Settings":
        if self.environment == "production":
            for name in ("mqtt_password", "pseudonym_key"):
                if getattr(self, name).get_secret_value() == _DEV_SECRET:
                    raise ValueError(f"HUB_{name.upper()} must be set in production")
        return self


class OrgClientSettings(BaseSettings):
    """The reference client `hub-org` of an organisation's system (`hub.org_client`), not the hub's own:
    the hub it talks to, its integration account, and the signing secret of its webhook subscription."""

    model_config = SettingsConfigDict(env_prefix="HUB_ORG_", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    username: str = ""
    password: SecretStr = SecretStr("")
    secret: SecretStr = Field(default=SecretStr(""), description="the subscription's signing secret")


@lru_cache
def get_settings() -> Settings:
    return Settings()
