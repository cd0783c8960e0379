"""The event stream of an ingestion request: its status each time it changes, until it ends.

::

    GET /acme/campaign/dataIngestion/xdmIngestion/XDM44/ingest/events?requestId=3520
    200 text/event-stream

    id: 1
    event: status
    data: {"batchId":"","info":"Mapping Id: XDM44.","numRecords":0,"requestId":3520,"status":"In Progress"}

    id: 2
    event: status
    data: {"batchId":"01J...","info":"Mapping Id: XDM44. ","numRecords":15,"requestId":3520,"status":"Success"}

The first event is the status when the stream opens; then one per change of the status
body (``domain/request_status.py``, the status route's); the stream ends after the event
of a request that has ended (``Success``, ``Failed``, ``Aborted``). A comment line every
15 s keeps proxies from closing a quiet stream.

Authentication and answers before the stream are the status call's (``api/ingestion.py``):
401 without a valid token, 404 with the contract's body for an unknown mapping or request
(another organization's too), 400 without a ``requestId``. The request is read again as
soon as this process commits a change to a job (``store/job_changes.py``: the embedded
worker's changes are told at once), else every half second (a worker of its own), from the
event loop (``store/requests.py``: on PostgreSQL an asynchronous read, on SQLite a read in
a worker thread); a quiet request costs the store what a client polling the status route
twice a second would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from xdm_connector.api import ingestion_contract
from xdm_connector.api.deps import request_principal
from xdm_connector.api.responses import ContractJSONResponse
from xdm_connector.domain.request_status import status_body
from xdm_connector.errors import InvalidInput
from xdm_connector.inputs import parse_integer
from xdm_connector.store.job_changes import JobChange, following
from xdm_connector.store.store import Store

router = APIRouter(tags=["ingestion"])
PATH = "/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest/events"
POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0


@router.get(
    PATH,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One event per change of the request's status, until it ends",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        400: {"description": "No requestId given, or one that is not an id"},
        401: {"description": "Missing or invalid token"},
        404: {"description": "Unknown mapping or request"},
    },
)
async def ingestion_events(request: Request, org: str, mapping_id: str) -> Response:
    """Follow an ingestion request: its status body as an event each time it changes,
    until the request ends. ``requestId`` in the query."""
    principal = await request_principal(request)
    value = request.query_params.get("requestId")
    if value is None:
        return ContractJSONResponse(
            {"info": f"Mapping Id: {mapping_id}. A requestId is required", "status": "Failed"}, 400
        )
    try:
        request_id = parse_integer(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid request: query.requestId: {exc}") from None
    if principal.org_id != org:
        answer = ingestion_contract.unknown_mapping_status(mapping_id, request_id)
        return ContractJSONResponse(answer.body, answer.status_code)
    store: Store = request.app.state.store
    first = await ingestion_contract.status_from_loop(store, org, mapping_id, request_id)
    if first.status_code != 200:
        return ContractJSONResponse(first.body, first.status_code)
    events = _events(store, org, mapping_id, request_id, first.body)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _events(
    store: Store, org: str, mapping_id: str, request_id: int, first: dict[str, Any]
) -> AsyncIterator[bytes]:
    """The stream's lines: the first status, then each changed one, until it has ended."""
    number = 1
    body = first
    changed = asyncio.Event()
    with following(_waking(asyncio.get_running_loop(), changed), JobChange.WRITTEN):
        # A change committed since ``first`` was read woke nothing: read again once.
        changed.set()
        yield _event(number, body)
        quiet_since = time.monotonic()
        while body["status"] == "In Progress":
            with anyio.move_on_after(POLL_SECONDS):
                await changed.wait()
            # Cleared before the read: a change committed after it wakes the next wait.
            changed.clear()
            found = await store.requests.astatus_of(org, mapping_id, request_id)
            if found is None:  # the mapping and its requests were deleted meanwhile
                return
            current = status_body(found)
            if current != body:
                number += 1
                body = current
                yield _event(number, body)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                yield b": still in progress\n\n"
                quiet_since = time.monotonic()


def _waking(loop: asyncio.AbstractEventLoop, changed: asyncio.Event) -> Callable[[], None]:
    """Set ``changed`` in ``loop``, from whichever thread committed a job's change."""

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed as the stream ended
            loop.call_soon_threadsafe(changed.set)

    return wake


def _event(number: int, body: dict[str, Any]) -> bytes:
    return b"id: %d\nevent: status\ndata: %s\n\n" % (number, orjson.dumps(body))
