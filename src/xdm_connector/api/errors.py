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


def error_status(exc: XdmcError) -> int:
    """The HTTP status that answers a product error (500 for one no request should cause)."""
    return next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 500)


def validation_problems(exc: RequestValidationError) -> str:
    """Where and why a request is invalid: ``location: message``, ``; ``-separated."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with a JSON body carrying a stable code."""

    @app.exception_handler(XdmcError)
    async def _product_error(_request: Request, exc: XdmcError) -> Response:
        status = error_status(exc)
        if status >= 500:
            log.error("request failed: %s", exc.code)
        if isinstance(exc, PermissionDenied):
            return gateway_error(status, exc.code, exc.message, role=exc.role)
        return gateway_error(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        return gateway_error(400, InvalidInput.code, f"invalid request: {validation_problems(exc)}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return gateway_error(exc.status_code, f"HTTP-{exc.status_code}", str(exc.detail))
