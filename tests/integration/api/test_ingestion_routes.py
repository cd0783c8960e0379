"""The ingestion API's trigger and status, byte for byte, on each metadata store."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.integration.api.test_auth import integration, token
from tests.integration.store.conftest import make_dataset, make_mapping
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.organizations import create_organization, grant_role
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

INGEST = "/acme/campaign/dataIngestion/xdmIngestion/{}/ingest"


def caller(client: TestClient, store: Store, *, sql: bool = True) -> dict[str, str]:
    """Headers of an integration of ``acme`` (with the role ``sql`` by default), whose
    organization has a dataset and the published mappings ``XDM1`` (stopped) and ``XDM2``
    (started)."""
    credentials = integration(store, sql=sql)
    make_dataset(store)
    make_mapping(store, "XDM1")
    make_mapping(store, "XDM2", stopped=False)
    return {
        "Authorization": f"Bearer {token(client, credentials)}",
        "X-Api-Key": credentials.client_id,
    }


def test_a_trigger_then_its_repeats_and_its_status(client: TestClient, store: Store) -> None:
    headers = caller(client, store)

    created = client.post(INGEST.format("XDM1"), headers=headers)
    assert created.status_code == 200
    request_id = created.json()["requestId"]
    assert created.content == (
        b'{"requestId": %d, "info": "Ingestion request submitted successfully for the '
        b'Mapping ID: XDM1", "status": "Success"}' % request_id
    )
    repeated = client.post(INGEST.format("XDM1"), headers=headers)
    assert repeated.status_code == 200
    assert repeated.content == (
        b'{"requestId": %d, "info": "Ingestion request already in progress for the '
        b'Mapping ID: XDM1", "status": "In Progress"}' % request_id
    )
    expected_status = (
        b'{"batchId": "", "info": "Mapping Id: XDM1.", "numRecords": 0, '
        b'"requestId": %d, "status": "In Progress"}' % request_id
    )
    by_query = client.get(f"{INGEST.format('XDM1')}?requestId={request_id}", headers=headers)
    assert (by_query.status_code, by_query.content) == (200, expected_status)
    by_body = client.request(
        "GET", INGEST.format("XDM1"), headers=headers, json={"requestId": str(request_id)}
    )
    assert (by_body.status_code, by_body.content) == (200, expected_status)
    # One request, and one audit entry for it: the repeat created nothing.
    assert [job.request_id for job in store.jobs.list_for_mapping("acme", "XDM1")] == [request_id]
    assert store.tenants.audit.count("acme", "trigger") == 1


def test_refusals_and_unknowns(client: TestClient, store: Store) -> None:
    headers = caller(client, store)

    started = client.post(INGEST.format("XDM2"), headers=headers)
    assert started.status_code == 409
    assert started.content == (
        b'{"info": "Unable to submit data ingestion request, XDM Mapping ID: XDM2 is not '
        b'stopped", "status": "Failed"}'
    )
    unknown = client.post(INGEST.format("XDM9"), headers=headers)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "info": "Unable to submit data ingestion request, XDM Mapping ID: XDM9 does not exist",
        "status": "Failed",
    }
    no_request = client.get(f"{INGEST.format('XDM1')}?requestId=77", headers=headers)
    assert no_request.status_code == 404
    assert no_request.content == (
        b'{"batchId": "", "info": "Mapping Id: XDM1. Request ID 77 does not exist", '
        b'"numRecords": 0, "requestId": 77, "status": "Failed"}'
    )
    no_mapping = client.get(f"{INGEST.format('XDM9')}?requestId=77", headers=headers)
    assert no_mapping.status_code == 404
    assert no_mapping.json()["info"] == "Mapping Id: XDM9. XDM Mapping ID XDM9 does not exist"
    missing = client.get(INGEST.format("XDM1"), headers=headers)
    assert missing.status_code == 400
    assert missing.json() == {
        "info": "Mapping Id: XDM1. A requestId is required",
        "status": "Failed",
    }


def test_a_request_id_that_is_not_one_is_refused(client: TestClient, store: Store) -> None:
    headers = caller(client, store)
    for value in ("abc", "1.5", str(2**31), str(10**40)):
        refused = client.get(f"{INGEST.format('XDM1')}?requestId={value}", headers=headers)
        assert refused.status_code == 400, value
        assert refused.json()["error_code"] == "XDMC-400"
    too_big = client.request(
        "GET", INGEST.format("XDM1"), headers=headers, json={"requestId": 2**40}
    )
    assert too_big.status_code == 400
    assert too_big.json()["error_code"] == "XDMC-400"


def test_another_organizations_caller_sees_nothing(client: TestClient, store: Store) -> None:
    headers = caller(client, store)
    request_id = client.post(INGEST.format("XDM1"), headers=headers).json()["requestId"]
    create_organization(store, "globex", "sqlite:///nowhere.db")
    grant_role(store, "globex", "Administrators", "sql")
    credentials = create_integration(store, "globex", groups=["Administrators"])
    other = {
        "Authorization": f"Bearer {token(client, credentials)}",
        "X-Api-Key": credentials.client_id,
    }

    trigger = client.post(INGEST.format("XDM1"), headers=other)
    assert trigger.status_code == 404
    assert "XDM Mapping ID: XDM1 does not exist" in trigger.json()["info"]
    status = client.get(f"{INGEST.format('XDM1')}?requestId={request_id}", headers=other)
    assert status.status_code == 404
    assert status.json()["info"] == "Mapping Id: XDM1. XDM Mapping ID XDM1 does not exist"
    assert [job.request_id for job in store.jobs.list_for_mapping("acme", "XDM1")] == [request_id]


def test_request_ids_are_numbered_per_organization(client: TestClient, store: Store) -> None:
    """A new organization's first request is 1 whatever the others did, and every call by
    request id (status, cancel, the job's details) finds the caller's own request or 404."""
    headers = caller(client, store)
    first = client.post(INGEST.format("XDM1"), headers=headers).json()["requestId"]
    claimed = store.jobs.claim("worker", timedelta(minutes=1), utcnow())
    assert claimed is not None
    store.jobs.succeed(claimed, "worker", JobOutcome(records_ingested=3), None)
    second = client.post(INGEST.format("XDM1"), headers=headers).json()["requestId"]
    assert (first, second) == (1, 2)
    create_organization(store, "globex", "sqlite:///nowhere.db")
    grant_role(store, "globex", "Administrators", "sql")
    make_dataset(store, "globex")
    make_mapping(store, "XDM1", org_id="globex")
    credentials = create_integration(store, "globex", groups=["Administrators"])
    other = {
        "Authorization": f"Bearer {token(client, credentials)}",
        "X-Api-Key": credentials.client_id,
    }
    theirs = "/globex/campaign/dataIngestion/xdmIngestion/XDM1/ingest"
    their_jobs = "/globex/campaign/dataIngestion/xdmMapping/XDM1/jobs"

    created = client.post(theirs, headers=other)
    assert created.content == (
        b'{"requestId": 1, "info": "Ingestion request submitted successfully for the '
        b'Mapping ID: XDM1", "status": "Success"}'
    )
    own = client.get(f"{theirs}?requestId=1", headers=other)
    assert own.content == (
        b'{"batchId": "", "info": "Mapping Id: XDM1.", "numRecords": 0, "requestId": 1, '
        b'"status": "In Progress"}'
    )
    # acme's request 2 (in progress) is not globex's: 404 for its status and its cancel.
    for method in ("GET", "DELETE"):
        answer = client.request(method, f"{theirs}?requestId=2", headers=other)
        assert (answer.status_code, answer.content) == (
            404,
            b'{"batchId": "", "info": "Mapping Id: XDM1. Request ID 2 does not exist", '
            b'"numRecords": 0, "requestId": 2, "status": "Failed"}',
        )
    assert client.get(f"{their_jobs}/2", headers=other).status_code == 404
    assert client.get(f"{their_jobs}/1", headers=other).json()["id"] == 1
    assert [job["id"] for job in client.get(their_jobs, headers=other).json()["content"]] == [1]
    assert store.jobs.get("acme", "XDM1", 2).state == "Created"
    # acme still reads its own request 1, with its count.
    mine = client.get(f"{INGEST.format('XDM1')}?requestId=1", headers=headers).json()
    assert (mine["requestId"], mine["status"], mine["numRecords"]) == (1, "Success", 3)
    cancelled = client.delete(f"{theirs}?requestId=1", headers=other).json()
    assert (cancelled["requestId"], cancelled["status"]) == (1, "Aborted")
    assert store.jobs.get("acme", "XDM1", 2).state == "Created"
    assert store.tenants.audit.entries("globex")[0].details == {
        "requestId": 1,
        "state": "Created",
    }


def test_the_routes_document_their_parameters(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operations = paths["/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest"]
    get_parameters = {(p["in"], p["name"]) for p in operations["get"]["parameters"]}
    assert get_parameters == {
        ("path", "org"),
        ("path", "mapping_id"),
        ("header", "Authorization"),
        ("header", "X-Api-Key"),
        ("query", "requestId"),
    }
    post_parameters = {(p["in"], p["name"]) for p in operations["post"]["parameters"]}
    assert post_parameters == get_parameters - {("query", "requestId")}
