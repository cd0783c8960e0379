"""``create_app(settings)``: the HTTP service, and its embedded worker when asked."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from xdm_connector import __version__
from xdm_connector.api import (
    audit_trail,
    datasets,
    ingestion,
    ingestion_events,
    integrations,
    mappings,
    metrics,
    security,
    token,
    webhooks,
)
from xdm_connector.api.deps import StoreDep
from xdm_connector.api.docs import WITHOUT_BUILTIN_DOCS, mount_docs
from xdm_connector.api.errors import install_error_handlers
from xdm_connector.api.request_inputs import check_request
from xdm_connector.api.shortcut import IngestionShortcut
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.errors import XdmcError
from xdm_connector.jobs.notify import outbox_wakeups
from xdm_connector.jobs.worker import Worker
from xdm_connector.logs import configure_logging
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.serving import announce
from xdm_connector.settings import Settings
from xdm_connector.sources.product_data import ProductData
from xdm_connector.store.store import Store
from xdm_connector.ui import mount_ui

log = logging.getLogger(__name__)

WORKER_CONNECTIONS = 4
"""Store connections kept for the embedded worker (its loop, heartbeat and slices)."""

SERVER_NAME = "xdm-connector"
"""How the server names itself in the lines it prints for people (``serving.py``)."""


class ConnectorApp(FastAPI):
    """FastAPI, with the ingestion trigger and status answered ahead of its middleware
    (``api/shortcut.py``)."""

    def build_middleware_stack(self) -> ASGIApp:
        endpoints = {"POST": ingestion.trigger_ingestion, "GET": ingestion.ingestion_status}
        on_error = self.exception_handlers[XdmcError]
        return IngestionShortcut(
            super().build_middleware_stack(), endpoints, on_error, check=check_request
        )


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application; the store opens (and migrates) when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.home.mkdir(parents=True, exist_ok=True)
        # Few threads serve more than many: each store round trip hands the GIL back and
        # forth, and with dozens of threads a thread waits its turn longer than the query.
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        store = Store(
            settings.store_url,
            pool_size=settings.api_threads + WORKER_CONNECTIONS,
            product_data=ProductData.of(settings),
        )
        store.upgrade()
        app.state.store = store
        app.state.destinations = OrgDestinations(store, settings)
        worker = Worker(store, settings) if settings.embedded_worker else None
        # The webhooks go out wherever a worker runs (their outbox is in the store).
        dispatcher = (
            WebhookDispatcher(store, settings, wakeups=outbox_wakeups(store))
            if settings.embedded_worker
            else None
        )
        if worker is not None and dispatcher is not None:
            worker.start_in_thread()
            dispatcher.start_in_thread()
        try:
            yield
        finally:
            if worker is not None and dispatcher is not None:
                worker.stop(say=lambda line: announce(SERVER_NAME, line))
                dispatcher.stop(timeout=settings.shutdown_grace_seconds)
            store.close()

    app = ConnectorApp(
        title="xdm-connector",
        version=__version__,
        description="Relational records into XDM datasets; the Campaign ingestion trigger API.",
        lifespan=lifespan,
        **WITHOUT_BUILTIN_DOCS,
        # Every route's path, query and body texts are checked before the route reads them.
        dependencies=[Depends(check_request)],
    )
    mount_docs(app)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(token.router)
    app.include_router(ingestion.router)
    app.include_router(ingestion_events.router)
    app.include_router(mappings.router)
    app.include_router(datasets.router)
    app.include_router(security.router)
    app.include_router(integrations.router)
    app.include_router(audit_trail.router)
    app.include_router(webhooks.router)
    app.include_router(metrics.router)

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """The process answers."""
        return JSONResponse({"status": "ok"})

    @app.get("/ready", tags=["operations"])
    def ready(store: StoreDep) -> JSONResponse:
        """The metadata store answers."""
        store.ping()
        return JSONResponse({"status": "ready"})

    mount_ui(app, settings)
    return app


def serving_app(settings: Settings) -> FastAPI:
    """``create_app(settings)`` for a server process: what is loaded by now (modules, the
    app) lives as long as the process, so it is moved out of the garbage collector's sight.
    A full collection then no longer walks it: on this code, tens of milliseconds that
    would land on some request's latency."""
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one of ``serve --processes N``'s processes: its settings from ``XDMC_*``,
    its logs configured (each process is started anew and does both itself)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return serving_app(settings)
