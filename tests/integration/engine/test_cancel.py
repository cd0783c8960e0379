"""Cancelling an ingestion request through the API: ``DELETE .../ingest?requestId=N``."""

from __future__ import annotations

import json
import threading
import time

from tests.integration.engine.conftest import INGEST, PROFILES, Engine
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.export import Exporter
from xdm_connector.store.audit import AuditAction

ABORTED = (
    "Mapping Id: XDM44. Ingestion request aborted due to some issue with data ingestion "
    "service. Please submit a new request"
)


def test_a_cancel_aborts_the_running_job_and_its_batch(engine: Engine) -> None:
    destination = InMemoryDestination()
    exporter = Exporter(engine.store, engine.settings, destination=destination)
    worker = Worker(engine.store, engine.settings, exporter=exporter)
    destination.hang("put_file", timeout=20)
    request_id = engine.trigger()
    running = threading.Thread(target=worker.run_once)
    running.start()
    try:
        deadline = time.monotonic() + 20
        while not destination.batches and time.monotonic() < deadline:
            time.sleep(0.02)
        answer = engine.client.delete(
            INGEST, params={"requestId": request_id}, headers=engine.headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "batchId": answer.json()["batchId"],
            "info": ABORTED,
            "numRecords": 0,
            "requestId": request_id,
            "status": "Aborted",
        }
        # The worker is stuck in a destination call; once it returns, it stops at once.
        destination.release()
        released = time.monotonic()
        running.join(timeout=20)
        assert not running.is_alive()
        assert time.monotonic() - released < 3
    finally:
        destination.release()
        running.join(timeout=20)
    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert job.state == JobState.ABORTED
    assert (job.details or {})["cancelledBy"] == engine.headers["X-Api-Key"]
    assert [batch.state for batch in destination.batches.values()] == [BatchState.ABORTED]
    assert engine.store.mappings.get("demo", "XDM44").watermark is None
    audit = engine.store.tenants.audit.entries("demo", AuditAction.CANCEL, offset=0, limit=10)
    assert [(entry.target, (entry.details or {})["requestId"]) for entry in audit] == [
        ("XDM44", request_id)
    ]

    # Idempotent: the same cancel answers the same status, nothing more is audited.
    again = engine.client.request(
        "DELETE", INGEST, content=json.dumps({"requestId": request_id}), headers=engine.headers
    )
    assert (again.status_code, again.json()["status"]) == (200, "Aborted")
    assert len(engine.store.tenants.audit.entries("demo", AuditAction.CANCEL, limit=10)) == 1

    # The mapping can run again and exports everything.
    assert engine.run().records_ingested == PROFILES


def test_a_cancel_of_a_waiting_or_finished_request(engine: Engine) -> None:
    waiting = engine.trigger()
    answer = engine.client.delete(INGEST, params={"requestId": waiting}, headers=engine.headers)
    assert (answer.status_code, answer.json()["status"]) == (200, "Aborted")
    assert not engine.worker.run_once()  # an aborted job is never claimed

    done = engine.run()
    assert done.state == JobState.SUCCESS
    unchanged = engine.client.delete(INGEST, params={"requestId": done.id}, headers=engine.headers)
    assert unchanged.status_code == 200
    assert unchanged.json() == engine.status(done.id)
    assert unchanged.json()["status"] == "Success"

    unknown = engine.client.delete(INGEST, params={"requestId": 424242}, headers=engine.headers)
    assert (unknown.status_code, unknown.json()["status"]) == (404, "Failed")
    missing = engine.client.delete(INGEST, headers=engine.headers)
    assert missing.status_code == 400
