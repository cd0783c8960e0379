"""The ingestion shortcut: its path and methods to the endpoints, all else to the app."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from xdm_connector.api.shortcut import IngestionShortcut
from xdm_connector.errors import InvalidInput, NotFound, XdmcError

INGEST = "/acme/campaign/dataIngestion/xdmIngestion/XDM44/ingest"


async def _answered_by_endpoint(request: Request) -> Response:
    if request.path_params["mapping_id"] == "missing":
        raise NotFound("unknown mapping missing")
    if request.path_params["mapping_id"] == "broken":
        raise RuntimeError("a bug")
    return JSONResponse({"by": "shortcut", **request.path_params, "method": request.method})


async def _answered_by_app(request: Request) -> Response:
    return PlainTextResponse("by app")


async def _on_error(request: Request, exc: XdmcError) -> Response:
    status = 400 if isinstance(exc, InvalidInput) else 404
    return JSONResponse({"error_code": exc.code}, status_code=status)


async def _check(request: Request) -> None:
    if "refused" in request.query_params:
        raise InvalidInput("invalid request: query.refused")


def _client(root_path: str = "") -> TestClient:
    app = Starlette(routes=[Route("/{rest:path}", _answered_by_app, methods=["GET", "POST"])])
    shortcut = IngestionShortcut(
        app,
        {"POST": _answered_by_endpoint, "GET": _answered_by_endpoint},
        _on_error,
        check=_check,
    )
    return TestClient(shortcut, root_path=root_path, raise_server_exceptions=False)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_ingestion_path_goes_to_its_endpoint_with_its_parameters(method: str) -> None:
    answer = _client().request(method, INGEST)
    assert answer.json() == {
        "by": "shortcut",
        "org": "acme",
        "mapping_id": "XDM44",
        "method": method,
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", INGEST),
        ("GET", "/health"),
        ("GET", INGEST + "/more"),
        ("GET", "/acme/campaign/dataIngestion/xdmIngestion/ingest"),
        ("POST", "/a/b/campaign/dataIngestion/xdmIngestion/XDM44/ingest"),
    ],
)
def test_other_methods_and_paths_go_to_the_app(method: str, path: str) -> None:
    with _client() as client:
        answer = client.request(method, path)
    if method == "PUT":
        assert answer.status_code == 405  # the app's own answer: no such route
    else:
        assert answer.text == "by app"


def test_a_product_error_is_answered_by_the_handler() -> None:
    answer = _client().post(INGEST.replace("XDM44", "missing"))
    assert (answer.status_code, answer.json()) == (404, {"error_code": NotFound.code})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_check_refuses_before_the_endpoint_runs(method: str) -> None:
    answer = _client().request(method, INGEST.replace("XDM44", "broken") + "?refused=1")
    assert (answer.status_code, answer.json()) == (400, {"error_code": InvalidInput.code})


def test_an_unexpected_error_is_logged_and_answered_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="xdm_connector.api.shortcut"):
        answer = _client().get(INGEST.replace("XDM44", "broken"))
    assert (answer.status_code, answer.text) == (500, "Internal Server Error")
    assert "request failed: GET" in caplog.text


def test_the_root_path_is_left_out_of_the_match() -> None:
    answer = _client(root_path="/api").get("/api" + INGEST)
    assert answer.json()["mapping_id"] == "XDM44"
