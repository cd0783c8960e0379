"""The requestId of the status and cancel calls in the seed page's own spelling,
``{"requestId"="<value>"}``, quoted or not, beside JSON and the query; no other body that
is not JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.test_ingestion_routes import INGEST, caller
from xdm_connector.store.store import Store

URL = INGEST.format("XDM1")
REQUIRED = {"info": "Mapping Id: XDM1. A requestId is required", "status": "Failed"}


def in_progress(request_id: int) -> bytes:
    return (
        b'{"batchId": "", "info": "Mapping Id: XDM1.", "numRecords": 0, '
        b'"requestId": %d, "status": "In Progress"}' % request_id
    )


@pytest.mark.parametrize(
    "spelling",
    [b'{"requestId"="%d"}', b'{"requestId"=%d}', b' { "requestId" = "%d" }\n'],
)
def test_the_status_takes_the_seed_pages_spelling(
    client: TestClient, store: Store, spelling: bytes
) -> None:
    headers = caller(client, store)
    request_id = client.post(URL, headers=headers).json()["requestId"]
    answer = client.request("GET", URL, headers=headers, content=spelling % request_id)
    assert (answer.status_code, answer.content) == (200, in_progress(request_id))


@pytest.mark.parametrize("spelling", [b'{"requestId"="%d"}', b'{"requestId"=%d}'])
def test_the_cancel_takes_the_seed_pages_spelling(
    client: TestClient, store: Store, spelling: bytes
) -> None:
    headers = caller(client, store)
    request_id = client.post(URL, headers=headers).json()["requestId"]
    cancelled = client.request("DELETE", URL, headers=headers, content=spelling % request_id)
    assert cancelled.status_code == 200
    assert (cancelled.json()["requestId"], cancelled.json()["status"]) == (request_id, "Aborted")
    assert store.jobs.get("acme", "XDM1", request_id).state == "Aborted"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "body",
    [
        b"requestId=1",
        b"{requestId=1}",
        b"{'requestId'='1'}",
        b'{"requestId":=1}',
        b'{"requestId"="1", "other"="2"}',
        b'{"requestId"="1"',
        b'{"requestid"="1"}',
    ],
)
def test_no_other_body_that_is_not_json_names_a_request(
    client: TestClient, store: Store, method: str, body: bytes
) -> None:
    headers = caller(client, store)
    client.post(URL, headers=headers)
    answer = client.request(method, URL, headers=headers, content=body)
    assert (answer.status_code, answer.json()) == (400, REQUIRED)
    assert store.jobs.get("acme", "XDM1", 1).state == "Created"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("body", [b'{"requestId"="abc"}', b'{"requestId"=1.5}'])
def test_the_seed_pages_spelling_of_a_value_that_is_no_id_is_refused(
    client: TestClient, store: Store, method: str, body: bytes
) -> None:
    headers = caller(client, store)
    client.post(URL, headers=headers)
    answer = client.request(method, URL, headers=headers, content=body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "XDMC-400"
    assert store.jobs.get("acme", "XDM1", 1).state == "Created"
