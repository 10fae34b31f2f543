"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from dramatiq import Worker
from litestar import Litestar, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig
from litestar.static_files import create_static_files_router
from litestar.stores.memory import MemoryStore
from litestar.template.config import TemplateConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import secret_paths
from app.config import Environment, Settings
from app.db.engine import create_engine
from app.db.models import WebSession
from app.routes.alert_sources import AlertSourcePages
from app.routes.alert_webhook import alert_webhook
from app.routes.api.alert_sources import AlertSourcesApi
from app.routes.api.calendar_feeds import CalendarFeedsApi
from app.routes.api.heartbeats import HeartbeatsApi
from app.routes.api.incidents import IncidentsApi
from app.routes.api.me import MeApi
from app.routes.api.members import MembersApi
from app.routes.api.pagerduty import PagerDutyApi
from app.routes.api.policies import PoliciesApi
from app.routes.api.reports import ReportsApi
from app.routes.api.schedules import SchedulesApi
from app.routes.api.slots import SlotsApi
from app.routes.auth import login_form, login_submit, logout, root
from app.routes.calendar import calendar_feed
from app.routes.errors import EXCEPTION_HANDLERS
from app.routes.formatting import install_filters
from app.routes.health import healthz_engine, metrics
from app.routes.heartbeat_ping import heartbeat_ping
from app.routes.incidents import IncidentPages
from app.routes.my_shifts import MyShiftsPages
from app.routes.onboarding import (
    invitation_answer,
    invitations_page,
    invite_accept,
    invite_page,
    password_page,
    password_set,
    setup_form,
    setup_submit,
    workspace_create,
    workspaces_page,
)
from app.routes.oncall import OnCallPages
from app.routes.people import PeoplePages
from app.routes.policies import PolicyPages
from app.routes.profile import ProfilePages
from app.routes.reports import ReportPages
from app.routes.security_headers import security_headers
from app.routes.settings import SettingsPages
from app.routes.slot_dialogs import SlotDialogs
from app.routes.webhooks import (
    pagerduty_webhook,
    slack_events,
    twilio_sms,
    twilio_status,
    twilio_voice_answer,
    twilio_voice_status,
)
from app.routes.workspace import WorkspacePages
from app.sessions import RotatingSessionBackend
from app.tasks import broker as task_broker
from app.tasks import context as task_context

ROOT = Path(__file__).resolve().parent
STATIC_DIR = ROOT.parent / "static"
SESSION_MAX_AGE = 14 * 24 * 3600
# Paths authenticated by something other than a cookie: the JSON API (Bearer tokens only; a session
# cookie never authenticates it) and the signed webhooks. Litestar searches these patterns anywhere in
# the path, so each is anchored: a page of a workspace slugged "api" or "integrations", or the
# Integrations settings page, stays protected.
CSRF_EXEMPT = [
    r"^/api/v1/",
    r"^/integrations/slack/events$",
    r"^/integrations/twilio_sms/?$",
    r"^/integrations/twilio_status/?$",
    r"^/integrations/twilio_voice/(answer/[0-9a-fA-F-]+|status)$",
    r"^/integrations/pagerduty/[A-Za-z0-9_-]+$",
    r"^/integrations/alerts/[^/]+$",
    r"^/integrations/heartbeats/[^/]+$",
]


# HTTP requests by route (its template: never a secret token, never one label per URL) and status.
HTTP_METRICS = PrometheusConfig(
    app_name="vigilo", prefix="vigilo_http", group_path=True, exclude_unhandled_paths=True, exclude=[r"^/static/"]
)


@get("/healthz", name="healthz", opt={"public": True}, include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (also the benchmark's ceiling)."""
    return {"status": "ok"}


@get("/healthz/db", name="healthz_db", opt={"public": True}, include_in_schema=False)
async def healthz_db(db_session: AsyncSession) -> dict[str, str]:
    """Readiness: one SELECT 1 on the pool (also the benchmark's floor for anything reading the database)."""
    await db_session.execute(text("SELECT 1"))
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app for `settings` (read from the environment when None)."""
    secret_paths.install()
    settings = settings or Settings.from_env()
    engine = create_engine(settings.database_url)
    alchemy = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # Services commit their own units of work; this only ends read transactions cleanly (and
        # closes the request session). Given by name so advanced-alchemy builds the handler with this
        # config's session_scope_key, which it renames (…_1, _2) for every config after the first in
        # a process; a handler made with the default key would never find the session to close.
        before_send_handler="autocommit_include_redirects",
        create_all=False,
    )
    session_config = ServerSideSessionConfig(
        key="vigilo_session",
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        renew_on_access=False,
    )
    session_backend = RotatingSessionBackend(config=session_config, alchemy_config=alchemy, model=WebSession)
    csrf = CSRFConfig(
        secret=settings.secret_key,
        cookie_name="vigilo_csrf",
        header_name="x-csrftoken",
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
        cookie_httponly=True,  # the token reaches pages in hidden fields and hx-headers, never from script
        exclude=CSRF_EXEMPT,
    )
    # Tests move time themselves, so VIGILO_ENV=test runs no periodic tick.
    broker = task_broker.configure(settings, with_ticker=settings.env is not Environment.TEST)
    task_context.use_settings(settings)

    @asynccontextmanager
    async def embedded_worker(_app: Litestar) -> AsyncIterator[None]:
        # Without Redis the web process is also the worker (DESIGN.md "Two ways to run").
        worker: Worker | None = None
        if not settings.redis_url:
            worker = Worker(broker, worker_threads=2, worker_timeout=100)
            await asyncio.to_thread(worker.start)
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await engine.dispose()

    template_config = TemplateConfig(
        directory=ROOT / "templates", engine=JinjaTemplateEngine, engine_callback=install_filters
    )
    return Litestar(
        route_handlers=[
            healthz,
            healthz_db,
            healthz_engine,
            metrics,
            # Pages and webhooks are not the JSON API: /schema documents the API alone.
            Router(
                path="/",
                include_in_schema=False,
                route_handlers=[
                    root,
                    login_form,
                    login_submit,
                    logout,
                    setup_form,
                    setup_submit,
                    workspaces_page,
                    workspace_create,
                    invitations_page,
                    invitation_answer,
                    invite_page,
                    invite_accept,
                    password_page,
                    password_set,
                    slack_events,
                    twilio_sms,
                    twilio_status,
                    twilio_voice_answer,
                    twilio_voice_status,
                    pagerduty_webhook,
                    alert_webhook,
                    heartbeat_ping,
                    calendar_feed,
                    WorkspacePages,
                    PeoplePages,
                    OnCallPages,
                    SlotDialogs,
                    IncidentPages,
                    PolicyPages,
                    MyShiftsPages,
                    ReportPages,
                    ProfilePages,
                    SettingsPages,
                    AlertSourcePages,
                ],
            ),
            MembersApi,
            MeApi,
            SchedulesApi,
            SlotsApi,
            IncidentsApi,
            PoliciesApi,
            PagerDutyApi,
            AlertSourcesApi,
            HeartbeatsApi,
            CalendarFeedsApi,
            ReportsApi,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
        ],
        # Notices after a post are flashed into the session, never read from the URL (app/routes/notices.py).
        plugins=[SQLAlchemyPlugin(config=alchemy), HTMXPlugin(), FlashPlugin(FlashConfig(template_config))],
        middleware=[HTTP_METRICS.middleware, DefineMiddleware(SessionMiddleware, backend=session_backend)],
        csrf_config=csrf,
        stores={"sessions": MemoryStore()},
        template_config=template_config,
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[security_headers(https=settings.secure_cookies)],
        lifespan=[embedded_worker],
        openapi_config=OpenAPIConfig(
            title="Vigilo On-call API",
            version="1",
            path="/schema",
            # JSON and YAML only: the HTML viewers load scripts from other hosts.
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="vgl_…")}
            ),
            security=[{"BearerToken": []}],
        ),
        state=State({"settings": settings, "alchemy": alchemy}),
        debug=False,
    )
