"""The event stream of an ingestion request, followed to its end while a job runs: one
event per change of the status body, the stream closed after the end; and the status
call's answers before any stream."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.integration.security.conftest import bearer, make_org
from xdm_connector.api import ingestion_events
from xdm_connector.domain.request_status import status_body
from xdm_connector.services.integrations import create_integration
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

EVENTS = "/acme/campaign/dataIngestion/xdmIngestion/XDM44/ingest/events"


def _parse(block: str) -> dict[str, Any]:
    fields = dict(line.split(": ", 1) for line in block.splitlines())
    return {"id": int(fields["id"]), "event": fields["event"], "data": orjson.loads(fields["data"])}


def _headers(client: TestClient, store: Store, tmp_path: Path) -> dict[str, str]:
    make_org(store, "acme", tmp_path / "acme")
    make_org(store, "globex", tmp_path / "globex")
    reader = create_integration(store, "acme", groups=["Standard Users"], name="reader")
    return bearer(client, reader)


def test_a_request_is_followed_to_its_end(client: TestClient, store: Store, tmp_path: Path) -> None:
    headers = _headers(client, store, tmp_path)
    request_id = store.jobs.request_ingestion("acme", "XDM44").job.request_id
    events = _follow(client, store, headers, request_id)
    ended = store.jobs.get("acme", "XDM44", request_id)
    assert [event["id"] for event in events] == [1, 2, 3]
    assert {event["event"] for event in events} == {"status"}
    assert [event["data"] for event in events] == [
        {
            "batchId": "",
            "info": "Mapping Id: XDM44.",
            "numRecords": 0,
            "requestId": request_id,
            "status": "In Progress",
        },
        {
            "batchId": "batch-1",
            "info": "Mapping Id: XDM44.",
            "numRecords": 0,
            "requestId": request_id,
            "status": "In Progress",
        },
        status_body(ended),
    ]
    assert events[-1]["data"]["status"] == "Success"
    # The status call answers what the stream said last.
    status = client.get(
        EVENTS.removesuffix("/events"), params={"requestId": request_id}, headers=headers
    )
    assert status.json() == events[-1]["data"]


@pytest.mark.timeout(60)
def test_a_change_committed_by_this_process_is_told_without_waiting_for_a_read(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded worker's changes wake the stream: it does not wait for its next read
    of the store (an hour here)."""
    monkeypatch.setattr(ingestion_events, "POLL_SECONDS", 3600.0)
    headers = _headers(client, store, tmp_path)
    request_id = store.jobs.request_ingestion("acme", "XDM44").job.request_id
    events = _follow(client, store, headers, request_id)
    assert [event["data"]["status"] for event in events] == ["In Progress"] * 2 + ["Success"]


def _follow(
    client: TestClient, store: Store, headers: dict[str, str], request_id: int
) -> list[dict[str, Any]]:
    """The request's events, its job claimed, uploaded and ended by this process as each
    event comes."""
    lease = timedelta(seconds=60)
    events: list[dict[str, Any]] = []
    with client.stream("GET", EVENTS, params={"requestId": request_id}, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        for text in stream.iter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                events.append(_parse(block))
                # The job moves on only once its previous status has been told.
                if len(events) == 1:
                    job = store.jobs.claim("worker", lease, utcnow())
                    assert job is not None
                    store.jobs.mark_uploaded(job.id, "worker", "batch-1")
                elif len(events) == 2:
                    store.jobs.succeed(job, "worker", JobOutcome(2, 2, batch_id="batch-1"), None)
    return events


def test_an_ended_request_answers_one_event(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    headers = _headers(client, store, tmp_path)
    job = store.jobs.request_ingestion("acme", "XDM44").job
    claimed = store.jobs.claim("worker", timedelta(seconds=60), utcnow())
    assert claimed is not None
    store.jobs.fail(claimed.id, "worker", JobOutcome(reason="ACP-880056 the source failed"))
    answer = client.get(EVENTS, params={"requestId": job.request_id}, headers=headers)
    assert answer.status_code == 200
    [block] = [part for part in answer.text.split("\n\n") if part]
    assert _parse(block)["data"]["status"] == "Failed"


def test_the_status_calls_answers_come_before_any_stream(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    headers = _headers(client, store, tmp_path)
    request_id = store.jobs.request_ingestion("acme", "XDM44").job.request_id
    assert client.get(EVENTS, params={"requestId": request_id}).status_code == 401
    missing = client.get(EVENTS, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["status"] == "Failed"
    assert client.get(EVENTS, params={"requestId": "x1"}, headers=headers).status_code == 400
    unknown = client.get(EVENTS, params={"requestId": request_id + 5}, headers=headers)
    assert unknown.status_code == 404
    assert (
        unknown.json()["info"] == f"Mapping Id: XDM44. Request ID {request_id + 5} does not exist"
    )
    other = client.get(
        EVENTS.replace("/acme/", "/globex/"), params={"requestId": request_id}, headers=headers
    )
    assert other.status_code == 404
    nowhere = client.get(
        EVENTS.replace("/acme/", "/nowhere/"), params={"requestId": request_id}, headers=headers
    )
    assert (nowhere.status_code, nowhere.json()) == (other.status_code, other.json())
