"""The one place that maps the product's errors to HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from xdm_connector.api.responses import gateway_error
from xdm_connector.errors import (
    AuthenticationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StoreError,
    XdmcError,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[XdmcError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (StoreError, 503),
)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with a JSON body carrying a stable code."""

    @app.exception_handler(XdmcError)
    async def _product_error(_request: Request, exc: XdmcError) -> Response:
        status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 500)
        if status >= 500:
            log.error("request failed: %s", exc.code)
        if isinstance(exc, PermissionDenied):
            return gateway_error(status, exc.code, exc.message, role=exc.role)
        return gateway_error(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return gateway_error(400, InvalidInput.code, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return gateway_error(exc.status_code, f"HTTP-{exc.status_code}", str(exc.detail))
