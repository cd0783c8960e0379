"""``create_platform_app(settings)``: the local platform service as a FastAPI application.

It keeps everything under ``settings.platform_root`` and processes completed batches in
background threads, started and stopped with the application (batches left processing by
a previous run are processed again at start-up).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from xdm_connector import __version__
from xdm_connector.api.docs import WITHOUT_BUILTIN_DOCS, mount_docs
from xdm_connector.api.errors import error_status, validation_problems
from xdm_connector.api.responses import gateway_error
from xdm_connector.errors import XdmcError
from xdm_connector.local_platform import auth, batches, catalog, hygiene
from xdm_connector.local_platform.faults import ADMIN_PATH, Fault, FaultMiddleware, Faults
from xdm_connector.local_platform.processing import BatchProcessor
from xdm_connector.local_platform.storage import PlatformStorage
from xdm_connector.serving import announce
from xdm_connector.settings import Settings
from xdm_connector.xdm.registry import SchemaRegistry

log = logging.getLogger(__name__)

SERVER_NAME = "xdm-connector platform service"
"""How the service names itself in the lines it prints for people (``serving.py``)."""


def create_platform_app(settings: Settings, *, clients_org: str | None) -> FastAPI:
    """The local platform service; ``settings.platform_faults`` enables failure injection.

    ``clients_org`` binds the clients created without an organization to that one
    (``platform serve --ims-org``); ``None`` lets them call for any (``--any-org``).
    """
    storage = PlatformStorage(settings.platform_root)
    registry = SchemaRegistry.packaged()
    faults = Faults() if settings.platform_faults else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage.root.mkdir(parents=True, exist_ok=True)
        processor = BatchProcessor(storage, registry, faults)
        app.state.processor = processor
        app.state.hygiene = hygiene.WorkOrderProcessor(storage, faults)
        processor.resume()
        app.state.hygiene.resume()
        try:
            yield
        finally:
            close_processor(processor)
            app.state.hygiene.close()

    app = FastAPI(
        title="xdm-connector local platform service",
        version=__version__,
        description=(
            "Experience Platform's batch ingestion, catalog, data hygiene and IMS token APIs, "
            "locally."
        ),
        lifespan=lifespan,
        **WITHOUT_BUILTIN_DOCS,
    )
    mount_docs(app)
    app.state.storage = storage
    app.state.registry = registry
    app.state.tokens = auth.TokenIssuer(storage, settings.token_ttl_seconds, clients_org)
    app.state.max_file_bytes = settings.platform_max_file_bytes
    _install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(batches.router)
    app.include_router(catalog.router)
    app.include_router(hygiene.router)
    if faults is not None:
        _install_faults(app, faults)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """The service answers."""
        return JSONResponse({"status": "ok"})

    return app


def close_processor(processor: BatchProcessor) -> None:
    """Stop processing batches, saying which ones it waits for and which it leaves."""
    running, queued = processor.processing(), processor.queued()
    if running:
        names = ", ".join(running)
        plural = "es" if len(running) > 1 else ""
        left = f" ({len(queued)} more queued for the next start)" if queued else ""
        announce(SERVER_NAME, f"waiting for batch{plural} {names} being processed{left}")
    processor.close()


def _install_faults(app: FastAPI, faults: Faults) -> None:
    app.add_middleware(FaultMiddleware, faults=faults)

    @app.post(ADMIN_PATH, status_code=201, tags=["testing"])
    def add_fault(fault: Fault) -> JSONResponse:
        """Arm an injected failure (see ``local_platform/faults.py``)."""
        faults.add(fault)
        return JSONResponse(faults.pending(), 201)

    @app.get(ADMIN_PATH, tags=["testing"])
    def list_faults() -> JSONResponse:
        """The pending injected failures."""
        return JSONResponse(faults.pending())

    @app.delete(ADMIN_PATH, tags=["testing"])
    def clear_faults() -> Response:
        """Drop every pending injected failure."""
        faults.clear()
        return Response(status_code=204)


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    """An API error as the platform's services write them."""
    body: dict[str, Any] = {
        "type": f"https://ns.adobe.com/aep/errors/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(auth.GatewayError)
    async def _gateway(_request: Request, exc: auth.GatewayError) -> Response:
        response = gateway_error(exc.status_code, exc.error_code, exc.message, **exc.extra)
        if exc.close_connection:
            response.headers["Connection"] = "close"
        return response

    @app.exception_handler(XdmcError)
    async def _product_error(_request: Request, exc: XdmcError) -> Response:
        status = error_status(exc)
        if status >= 500:
            log.error("request failed: %s", exc.code)
        return _problem(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        return _problem(400, "XDMC-400", f"invalid request: {validation_problems(exc)}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(exc.status_code, f"HTTP-{exc.status_code}", str(exc.detail))
