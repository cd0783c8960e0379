"""No route that may block is a coroutine: only the allowed ones run on the event loop.

An ``async def`` route runs in the event loop itself, so a store round trip or a source
database it waits for there holds up every other request, the ingestion trigger and status
first. FastAPI runs plain ``def`` routes in its thread pool. The coroutines allowed are the
ingestion trigger, status and event stream (they read the store through its asynchronous
queries and run their writes in a thread) and routes that touch nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from pathlib import Path

from starlette.routing import BaseRoute

from xdm_connector.app import create_app
from xdm_connector.settings import Settings

ALLOWED = {
    "trigger_ingestion",
    "ingestion_status",
    "ingestion_events",
    "health",
    "openapi",
    "swagger_ui",
    "swagger_ui_redirect",
    "redoc",
}


def endpoints(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, object]]:
    """Every route's (path, endpoint), the included routers' routes included."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from endpoints(included.routes)
            continue
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None:
            yield getattr(route, "path", "?"), endpoint


def test_only_the_allowed_routes_run_on_the_event_loop(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, embedded_worker=False))
    found = list(endpoints(app.routes))
    paths = {path for path, _ in found}
    assert "/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest" in paths
    assert "/ui/mappings/{mapping_id}/edit" in paths
    coroutines = {
        f"{path} {name}"
        for path, endpoint in found
        if inspect.iscoroutinefunction(endpoint)
        and (name := getattr(endpoint, "__name__", "?")) not in ALLOWED
    }
    assert coroutines == set()
