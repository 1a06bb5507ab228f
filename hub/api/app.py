"""The API factory: it receives its collaborators, so tests and the hub wire it the same way."""

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from hub.api import errors, guards
from hub.api.reads import Standby
from hub.api.routes import (
    auth,
    cases,
    communities,
    devices,
    events,
    rules,
    silences,
    subscriptions,
    teams,
    telemetry,
    users,
)
from hub.api.routes.access import router as access_router
from hub.api.routes.adapters import router as adapters_router
from hub.api.routes.admin_health import router as admin_health_router
from hub.api.routes.alerts import router as alerts_router
from hub.api.routes.audit import router as audit_router
from hub.api.routes.broker_auth import router as broker_auth_router
from hub.api.routes.deadletters import router as dead_letters_router
from hub.api.routes.kpis import router as kpis_router
from hub.api.routes.metrics import router as metrics_router
from hub.api.routes.organisations import router as organisations_router
from hub.api.routes.plan_images import router as plan_images_router
from hub.api.routes.push import router as push_router
from hub.api.routes.sites import router as sites_router
from hub.api.routes.topology import router as topology_router
from hub.domain.health import WorkerState
from hub.ingest.metrics import IngestMetrics
from hub.ingest.push import PushGateway
from hub.ingest.ratelimit import DeviceRateLimit
from hub.ingest.rules import RuleSet
from hub.services.broker_auth import BrokerAuth
from hub.settings import Settings

API = "/api/v1"


def create_app(
    settings: Settings,
    pool: ConnectionPool,
    ingest_status: Callable[[], str] = lambda: "subscribed",
    metrics: IngestMetrics | None = None,
    rule_set: RuleSet | None = None,
    worker_state: Callable[[], WorkerState] | None = None,
    push: PushGateway | None = None,
    standby: Standby | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Smart-community event hub",
        version="1",
        docs_url=f"{API}/docs",
        openapi_url=f"{API}/openapi.json",
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.standby = standby
    app.state.metrics = metrics
    app.state.rule_set = rule_set
    app.state.worker_state = worker_state
    app.state.push = push
    app.state.broker_auth = BrokerAuth(settings)
    app.state.broker_auth_limit = DeviceRateLimit(settings.broker_auth_rate_per_s, settings.broker_auth_burst)
    errors.install(app)
    guards.install(app)

    health = APIRouter(tags=["health"])

    @health.get("/health")
    def get_health() -> dict[str, str]:
        """Unauthenticated by design: load balancers and compose health checks call it."""
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        return {"status": "ok", "ingest": ingest_status()}

    for router in (
        health,
        auth.router,
        cases.router,
        devices.router,
        teams.router,
        organisations_router,
        users.router,
        communities.router,
        telemetry.router,
        sites_router,
        plan_images_router,
        events.router,
        subscriptions.router,
        rules.router,
        silences.router,
        topology_router,
        kpis_router,
        access_router,
        audit_router,
        alerts_router,
        dead_letters_router,
        admin_health_router,
        push_router,
        adapters_router,
        broker_auth_router,
    ):
        app.include_router(router, prefix=API)
    app.include_router(metrics_router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], object]) -> Response:
        response: Response = await call_next(request)  # type: ignore[misc]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        return response

    _mount_dashboard(app, settings.dashboard_dir)
    return app


def _mount_dashboard(app: FastAPI, directory: Path) -> None:
    if not directory.is_dir():
        return
    app.mount("/static", StaticFiles(directory=directory), name="static")
    index = directory / "index.html"

    icon = directory / "favicon.svg"

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(index)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for it on pages that link no icon (the API docs, the printable report)."""
        return FileResponse(icon, media_type="image/svg+xml")
