"""A small real HTTP server (Starlette on uvicorn, in a thread) that speaks the ingestion
API as documented, event stream included, with a script of the statuses it answers and
switches for how its stream misbehaves: what the client's tests talk to.

One request (``REQUEST_ID``) of one mapping walks through ``statuses``: each event of the
stream is the next status, and so is each status read while the stream is not used.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CLIENT_ID = "client-1"
CLIENT_SECRET = "s3cret-value"
REQUEST_ID = 7
INGEST = "/{org}/campaign/dataIngestion/xdmIngestion/{mapping}/ingest"


def status(state: str, records: int = 0, reason: str = "") -> dict[str, Any]:
    """A status body of the request, as the API writes it."""
    return {
        "batchId": "b-1" if state != "In Progress" else "",
        "info": f"Mapping Id: XDM44. {reason}" if state != "In Progress" else "Mapping Id: XDM44.",
        "numRecords": records,
        "requestId": REQUEST_ID,
        "status": state,
    }


@dataclass
class Script:
    """What the server answers, and what it was asked."""

    statuses: list[dict[str, Any]] = field(
        default_factory=lambda: [status("In Progress"), status("Success", 10)]
    )
    stream: str = "events"
    """``events``: the stream as documented; ``404``/``405``: no stream route; ``break``:
    the connection drops after the first event; ``silent``: keep-alive comments only."""
    token_lifetime: int = 3600
    mappings: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    tokens: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    position: int = 0

    def revoke_tokens(self) -> None:
        """Refuse every token issued so far (as a rotated secret does)."""
        self.tokens.append("revoked")

    def current(self) -> dict[str, Any]:
        return self.statuses[min(self.position, len(self.statuses) - 1)]

    def advance(self) -> dict[str, Any]:
        body = self.current()
        self.position += 1
        return body


def _refused(status_code: int, error_code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error_code": error_code, "message": message, **extra}, status_code)


def build_app(script: Script) -> Starlette:
    def authorized(request: Request) -> bool:
        live = script.tokens[-1] if script.tokens else None
        return (
            request.headers.get("X-Api-Key") == CLIENT_ID
            and live is not None
            and request.headers.get("Authorization") == f"Bearer {live}"
        )

    async def token(request: Request) -> Response:
        form = await request.form()
        script.calls.append("token")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _refused(401, "401013", "Oauth token is not valid")
        issued = f"token-{len(script.tokens) + 1}"
        script.tokens.append(issued)
        return JSONResponse(
            {"access_token": issued, "token_type": "bearer", "expires_in": script.token_lifetime}
        )

    async def ingest(request: Request) -> Response:
        mapping = request.path_params["mapping"]
        kind = {"POST": "trigger", "GET": "status", "DELETE": "cancel"}[request.method]
        script.calls.append(kind)
        if not authorized(request):
            return _refused(401, "401013", "Oauth token is not valid")
        if mapping == "NOROLE":
            return _refused(403, "XDMC-403", "The role sql is required", role="sql")
        if mapping == "DRAFT":
            body = {
                "info": f"Unable to submit data ingestion request, XDM Mapping ID: {mapping} is not published",
                "status": "Failed",
            }
            return JSONResponse(body, 409)
        if mapping != "XDM44":
            body = {
                **status("Failed"),
                "info": f"Mapping Id: {mapping}. XDM Mapping ID {mapping} does not exist",
                "batchId": "",
            }
            return JSONResponse(body, 404)
        if kind == "trigger":
            return JSONResponse(
                {
                    "requestId": REQUEST_ID,
                    "info": "Ingestion request submitted successfully for the Mapping ID: XDM44",
                    "status": "Success",
                }
            )
        if kind == "cancel":
            return JSONResponse(status("Aborted", reason="Ingestion request aborted"))
        return JSONResponse(script.advance())

    async def events(request: Request) -> Response:
        script.calls.append("events")
        if script.stream in ("404", "405"):
            return _refused(int(script.stream), f"HTTP-{script.stream}", "Not Found")
        if not authorized(request):
            return _refused(401, "401013", "Oauth token is not valid")
        return StreamingResponse(_stream(), media_type="text/event-stream")

    async def _stream() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        if script.stream == "silent":
            while True:
                await asyncio.sleep(0.05)
                yield b": keep-alive\n\n"
        while True:
            body = script.advance()
            text = json.dumps(body)
            # The data split over two lines (joined by a newline, still JSON), CRLF endings.
            head, tail = text.split(", ", 1)
            yield f"event: status\r\nid: {script.position}\r\ndata: {head},\r\ndata: {tail}\r\n\r\n".encode()
            if script.stream == "break":
                raise ConnectionResetError("the stream breaks")
            if body["status"] != "In Progress":
                return
            await asyncio.sleep(0.01)

    async def mappings(request: Request) -> Response:
        script.calls.append("mappings")
        if not authorized(request):
            return _refused(401, "401013", "Oauth token is not valid")
        start = int(request.query_params.get("_lineStart", "0"))
        page = script.mappings[start : start + script.page_size]
        return JSONResponse({"content": page, "count": {"value": len(script.mappings)}})

    async def mapping(request: Request) -> Response:
        script.calls.append("mapping")
        if not authorized(request):
            return _refused(401, "401013", "Oauth token is not valid")
        for item in script.mappings:
            if item["id"] == request.path_params["mapping"]:
                return JSONResponse(item)
        return _refused(404, "XDMC-404", f"unknown mapping {request.path_params['mapping']}")

    return Starlette(
        routes=[
            Route("/ims/token/v3", token, methods=["POST"]),
            Route(INGEST, ingest, methods=["POST", "GET", "DELETE"]),
            Route(f"{INGEST}/events", events, methods=["GET"]),
            Route("/{org}/campaign/dataIngestion/xdmMapping", mappings, methods=["GET"]),
            Route("/{org}/campaign/dataIngestion/xdmMapping/{mapping}", mapping, methods=["GET"]),
        ]
    )


@contextmanager
def serving(script: Script) -> Iterator[str]:
    """Serve ``script`` on a port of 127.0.0.1 while the block runs; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(script), lifespan="off", log_level="critical", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the scripted server did not start")
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
