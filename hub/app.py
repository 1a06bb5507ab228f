"""The composition root: starts and stops ingest, the scheduler and the API as one hub process."""

import logging
import signal
import threading
import time
from types import FrameType

import uvicorn

from hub import runtime
from hub.api.app import create_app
from hub.api.reads import Standby
from hub.cases import config as dispatch_config
from hub.devices import service as device_service
from hub.domain.health import WorkerState
from hub.domain.roles import Role
from hub.engine.evaluator import Engine
from hub.ingest.adapted import AdapterSet
from hub.ingest.database import IngestDatabase
from hub.ingest.inbound import Inbox
from hub.ingest.leases import Partitions
from hub.ingest.metrics import IngestMetrics, RateMeter
from hub.ingest.pipeline import PIPELINE_THREAD, Pipeline, PipelineConfig
from hub.ingest.push import PushGateway
from hub.ingest.ratelimit import DeviceRateLimit, RateGate
from hub.ingest.replays import Replayer
from hub.ingest.rules import RuleSet
from hub.ingest.thread_names import name_os_thread
from hub.jobs import scheduler as jobs
from hub.notify.drainer import DrainerThread
from hub.settings import Settings
from hub.store import db, migrations, users

log = logging.getLogger(__name__)


class Hub:
    """Wires the parts; `start` does the I/O (wait for the database, migrate, load rules, connect)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = db.new_pool(settings.database_url)
        self.standby = (
            None
            if settings.database_read_url is None
            else Standby(
                db.new_pool(settings.database_read_url, name="hub-standby"),
                wait_s=settings.database_read_wait_s,
                retry_s=settings.database_read_retry_s,
            )
        )
        self.rule_set = RuleSet(
            settings.rules_dir,
            apply=lambda rules: self.pipeline.swap_rules(rules),
            pool=self.pool,
            worker=settings.worker_name,
        )
        self.adapters = AdapterSet(settings.adapters_dir, settings.topic_prefix)
        self.engine = Engine([], data_gap_s=settings.no_data_after_s)
        self.metrics = IngestMetrics()
        self.rates = RateMeter(self.metrics)
        inbox = Inbox(maxsize=settings.ingest_queue_max)
        self.pipeline = Pipeline(
            _pipeline_config(settings),
            database=IngestDatabase(settings.database_url, self.metrics),
            engine=self.engine,
            inbox=inbox,
            ack=lambda messages: self.partitions.ack(messages),
            dispatch=lambda: dispatch_config.current(settings.routing_file),
            metrics=self.metrics,
            rate_gate=RateGate(
                DeviceRateLimit(settings.ingest_device_rate_per_s, settings.ingest_device_burst)
            ),
            adapters=self.adapters,
        )
        self.partitions = Partitions(settings, self.pool, self.pipeline, inbox, self.metrics, self.adapters)
        self.push = PushGateway(settings, inbox, self.adapters, self.partitions.owned)
        self.replayer = Replayer(
            self.pool, inbox, self.adapters, self.partitions.owned, settings.push_commit_timeout_s
        )
        self.notify = DrainerThread(settings, self.pool)
        self._stop = threading.Event()
        self._pipeline_thread = threading.Thread(target=self._run_pipeline, name="pipeline")

    def _run_pipeline(self) -> None:
        name_os_thread(PIPELINE_THREAD)
        self.pipeline.run(self._stop)

    def start(self) -> None:
        db.wait_for_database(self.settings.database_url)
        migrations.migrate(self.settings.database_url)
        self.pool.open(wait=True, timeout=30)
        if self.standby is not None:
            # no wait: a standby that is down must not stop the hub; its reads go to the primary meanwhile
            self.standby.pool.open(wait=False)
        self.engine.replace_rules(self.rule_set.load())
        self.adapters.reload()
        with self.pool.connection() as conn:
            if device_service.export_auth(conn, self.settings):
                # let the broker finish its reload before the hub's session resumes: Mosquitto 2.0 can
                # drop queued messages it hands to a client connecting during a reload
                time.sleep(1.0)
            if self.settings.admin_password is not None:
                users.ensure_user(conn, "admin", self.settings.admin_password.get_secret_value(), Role.ADMIN)
        runtime.tune(self.settings.gc_young_threshold, self.settings.thread_switch_ms / 1000)
        self._pipeline_thread.start()
        self.partitions.start()
        self.scheduler = jobs.start(self.settings, self.pool)
        for job, name in (
            (self.rule_set.watch, "rules-watch"),
            (self._watch_adapters, "adapters-watch"),
            (self.replayer.run_pending, "adapter-replays"),
            (self.rates.sample, "ingest-rate"),
        ):
            self.scheduler.add_job(job, "interval", seconds=2, id=name, max_instances=1, coalesce=True)
        self.notify.start()
        log.info("hub started with %d rule(s)", len(self.engine.rules))

    def _watch_adapters(self) -> None:
        """A changed adapter file is in force within seconds; the broker's ACL follows its topic filters
        so the hub may read them (and vendor gateways write them)."""
        if self.adapters.watch():
            with self.pool.connection() as conn:
                device_service.export_auth(conn, self.settings)

    def worker_state(self) -> WorkerState:
        return WorkerState(
            worker=self.settings.worker_name,
            ingest=self.partitions.status(),
            sessions=self.partitions.sessions(),
            rates=self.rates.series(),
            next_runs={j.id: j.next_run_time for j in self.scheduler.get_jobs() if j.id in jobs.RECORDED},
        )

    def stop(self) -> None:
        """Stop taking messages, commit and acknowledge what was taken, then disconnect."""
        self.partitions.stop_accepting()
        self._stop.set()
        self._pipeline_thread.join(timeout=30)
        self.scheduler.shutdown(wait=False)
        self.partitions.close()
        self.notify.stop()
        if self.standby is not None:
            self.standby.pool.close()
        self.pool.close()

    def serve(self) -> None:
        app = create_app(
            self.settings,
            self.pool,
            ingest_status=self.partitions.status,
            metrics=self.metrics,
            rule_set=self.rule_set,
            worker_state=self.worker_state,
            push=self.push,
            standby=self.standby,
        )
        config = uvicorn.Config(
            app, host=self.settings.api_host, port=self.settings.api_port, log_level="info", access_log=False
        )
        # uvicorn puts these handlers back after its own shutdown and raises the signal again; with the
        # default action that would kill the process before `stop` flushes and acknowledges.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stopping)
        self.start()
        try:
            uvicorn.Server(config).run()
        finally:
            self.stop()
        log.info("hub stopped")


def _pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(
        prefix=settings.topic_prefix,
        batch_max_rows=settings.batch_max_rows,
        batch_max_delay_s=settings.batch_max_delay_ms / 1000,
        dead_letter_bytes=settings.dead_letter_payload_bytes,
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        no_data_after_s=settings.no_data_after_s,
        state_flush_s=settings.state_flush_s,
        state_flush_max_devices=settings.state_flush_max_devices,
        partitioned=True,
    )


def _stopping(sig: int, _frame: FrameType | None) -> None:
    log.info("%s received again while stopping; the hub finishes its shutdown", signal.Signals(sig).name)
