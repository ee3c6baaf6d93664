"""The one place the Litestar application is assembled: plugins, services and their
wiring are built here once and reach handlers through dependency injection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from piccolo.engine.base import Engine
from redis.asyncio import Redis

from ofca import __version__
from ofca.access.principals import provide_principal
from ofca.access.ratelimit import RateLimiter, RateLimitMiddleware
from ofca.channels.monitor import ChannelsMonitor
from ofca.channels.plugin import create_channels_plugin
from ofca.controllers import ROUTE_HANDLERS
from ofca.controllers.frontend import dashboard_assets_router, template_config
from ofca.controllers.openapi import document_auth_answers
from ofca.controllers.schemas import apidocs_assets_router, docs_render_plugins
from ofca.conversations.full_sync import FullSyncs
from ofca.conversations.live_nodes import LiveFeed
from ofca.errors import http_exception_handler, internal_error_handler
from ofca.ingest import enrich, unenriched
from ofca.ingest.commands import ExtensionCommands
from ofca.ingest.context import Ingest
from ofca.ingest.streams import run_snapshot_sweeper
from ofca.insights.scheduler import InsightsScheduler
from ofca.persistence.engine import bind_tables, close_engine, open_engine
from ofca.persistence.migrate import migrate
from ofca.redaction import redact_server_logs
from ofca.settings import Settings, load_settings

__all__ = ["create_app"]

log = logging.getLogger("ofca")


def _provide(value: object) -> Provide:
    """A dependency that is one object built with the app."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def create_app(
    settings: Settings | None = None,
    *,
    run_migrations: bool = True,
    engine: Engine[Any] | None = None,
) -> Litestar:
    """Build the application for ``settings`` (default: from the environment).

    ``engine``: an already open, migrated engine to use and leave open (tests): the test
    client runs the app on its own event loop, so tests hand in a pool-less engine that
    works from any loop instead of the app opening a pool that rebinds every table.
    """
    settings = settings or load_settings()
    redact_server_logs()  # uvicorn logs every path with its query string (?token=...)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    channels = create_channels_plugin(settings, redis)
    monitor = ChannelsMonitor(channels)
    rate_limiter = RateLimiter(settings, redis)
    insights = InsightsScheduler(settings, channels)
    ingest = Ingest(settings, channels, insights=insights, feed=LiveFeed(settings.triage))
    full_syncs = FullSyncs(insights.analytics, settings.triage)
    commands = ExtensionCommands(settings, channels, redis)
    monitor.on_recovery(commands.register_again)
    given_engine = engine

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if given_engine is None:
            engine = await open_engine(settings)
        else:
            engine = given_engine
            bind_tables(engine)
        app.state.engine = engine
        insights.start_worker(own_engine=given_engine is None)
        if given_engine is None and settings.enrich_worker:
            enrich.start_worker()
        sweeper: asyncio.Task[None] | None = None
        enrichment_sweeper: asyncio.Task[None] | None = None
        snapshot_sweeper: asyncio.Task[None] | None = None
        try:
            if run_migrations and given_engine is None:
                applied = await migrate(engine)
                if applied:
                    log.info("applied migrations: %s", ", ".join(applied))
            if given_engine is None:
                sweeper = asyncio.create_task(insights.run_sweeper(settings.refresh_sweep_seconds))
                enrichment_sweeper = asyncio.create_task(
                    unenriched.run_sweeper(ingest, settings.refresh_sweep_seconds)
                )
                snapshot_sweeper = asyncio.create_task(
                    run_snapshot_sweeper(
                        min(settings.refresh_sweep_seconds, settings.snapshot_ttl_seconds)
                    )
                )
            yield
        finally:
            for task in (sweeper, enrichment_sweeper, snapshot_sweeper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await insights.stop()
            enrich.shutdown()
            if given_engine is None:
                await close_engine(engine)
            if redis is not None:
                await redis.aclose()

    cors = (
        CORSConfig(allow_origins=settings.allowed_origins, allow_credentials=True)
        if settings.allowed_origins
        else None
    )
    app = Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            dashboard_assets_router(settings),
            apidocs_assets_router(),
        ],
        plugins=[channels],
        middleware=[DefineMiddleware(RateLimitMiddleware, limiter=rate_limiter)],
        lifespan=[lifespan],
        on_startup=[monitor.start],
        on_shutdown=[monitor.stop],
        state=State(
            {
                "settings": settings,
                "redis": redis,
                "channels": channels,
                "channels_monitor": monitor,
                "rate_limiter": rate_limiter,
            }
        ),
        dependencies={
            "settings": _provide(settings),
            "principal": Provide(provide_principal),
            "ingest": _provide(ingest),
            "insights": _provide(insights),
            "full_syncs": _provide(full_syncs),
            "commands": _provide(commands),
            "channels_monitor": _provide(monitor),
            "rate_limiter": _provide(rate_limiter),
        },
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
        cors_config=cors,
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="ofca",
            version=__version__,
            description="Conversational analytics for creator-fan chat. WebSocket messages are "
            "described by the JSON Schema at /api/v1/schemas/wss.",
            path="/schema",
            render_plugins=docs_render_plugins(),
        ),
        debug=False,
    )
    document_auth_answers(app)
    return app


def create_app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory ofca.app:create_app_from_env``."""
    return create_app(load_settings())
