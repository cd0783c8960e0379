"""The trigger and status requests, answered before the framework's middleware and routing.

Scripts call ``POST`` and ``GET`` of the ingestion path in loops, and for those short
requests the layers in front of a route (error middleware, exit stacks, route matching,
the response wrappers) cost about a quarter of the request. ``IngestionShortcut`` sits
in front of them: a request of that method and path goes straight to the route's own
function (``api.ingestion``, the same code that documents the route in OpenAPI), after
the checks every route gets (``check``: ``api/request_inputs.py``), its product errors
answered by the app's own handler. Any other request, and the lifespan, goes through the
app as usual.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from xdm_connector.errors import XdmcError

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
Check = Callable[[Request], Awaitable[None]]
ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]
_INGEST = re.compile(
    r"/(?P<org>[^/]+)/campaign/dataIngestion/xdmIngestion/(?P<mapping_id>[^/]+)/ingest"
)


class IngestionShortcut:
    """ASGI app: ``endpoints`` (by method) for the ingestion path, ``app`` for the rest.

    ``check`` refuses a request's inputs before its endpoint runs, as it does before every
    route of the app. ``on_error`` answers a product error (``XdmcError``) as the app's
    handler does; any other error is logged and answered 500, as the framework's own last
    resort would.
    """

    def __init__(
        self,
        app: ASGIApp,
        endpoints: Mapping[str, Endpoint],
        on_error: ErrorHandler,
        check: Check,
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.on_error = on_error
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._endpoint(scope)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            await self.check(request)
            response = await endpoint(request)
        except XdmcError as exc:
            answer = self.on_error(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        except Exception:
            log.exception("request failed: %s %s", scope["method"], scope["path"])
            response = PlainTextResponse("Internal Server Error", status_code=500)
        await response(scope, receive, send)

    def _endpoint(self, scope: Scope) -> Endpoint | None:
        if scope["type"] != "http":
            return None
        endpoint = self.endpoints.get(scope["method"])
        if endpoint is None:
            return None
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        match = _INGEST.fullmatch(path)
        if match is None:
            return None
        parameters: dict[str, Any] = match.groupdict()
        scope["path_params"] = parameters
        return endpoint
