"""The mapping API: lifecycle, publication log, jobs, paging, roles and tenants."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.apps import source_database
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.organizations import create_organization
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

MAPPINGS = "/acme/campaign/dataIngestion/xdmMapping"
DATASETS = "/acme/campaign/dataIngestion/dataset"
PUBLISHED_LOG = [
    "ACP-880066",
    "ACP-880071",
    "ACP-880074",
    "ACP-880086",
    "ACP-880087",
    "ACP-880089",
    "ACP-880090",
    "ACP-880092",
]
BAD_PATH = "/optOutConsentLevel/privacyOptOuts/0/optOutType"


def mapping_document(mapping_id: str = "XDM44", **overrides: Any) -> dict[str, Any]:
    """A definition that publishes against ``source_database`` and ``PROFILES``."""
    return {
        "id": mapping_id,
        "label": "Profiles to Platform",
        "targetingDimension": "profile",
        "dataset": "profiles",
        "auditFields": ["@lastModified"],
        "mapToXdmArray": True,
        "fieldMappings": [
            {"source": "ToString(@id)", "xdm": "/_id"},
            {"source": "@email", "xdm": "/personalEmail/address"},
            {"source": "@email", "xdm": "/identityMap/Email/0/id"},
            {"source": "true", "xdm": "/identityMap/Email/0/primary"},
        ],
        **overrides,
    }


PROFILES = {
    "id": "profiles",
    "class": "profile",
    "fieldGroups": ["profile-personal-details", "identitymap"],
}


def caller(client: TestClient, store: Store, org: str, *, admin: bool = True) -> dict[str, str]:
    """Headers of a new integration of ``org``, an administrator or a standard user."""
    group = "Administrators" if admin else "Standard Users"
    credentials = create_integration(store, org, groups=[group])
    response = client.post(
        "/ims/token/v3",
        data={"client_id": credentials.client_id, "client_secret": credentials.client_secret},
    )
    assert response.status_code == 200
    return {
        "Authorization": f"Bearer {response.json()['access_token']}",
        "X-Api-Key": credentials.client_id,
    }


def organization(
    client: TestClient, store: Store, tmp_path: Path, org: str = "acme"
) -> dict[str, str]:
    """An organization reading ``source_database``, with the dataset ``profiles``."""
    folder = tmp_path / org
    folder.mkdir()
    create_organization(store, org, source_database(folder))
    headers = caller(client, store, org)
    created = client.post(f"/{org}/campaign/dataIngestion/dataset", json=PROFILES, headers=headers)
    assert created.status_code == 201, created.text
    return headers


@pytest.fixture
def admin(client: TestClient, store: Store, tmp_path: Path) -> dict[str, str]:
    return organization(client, store, tmp_path)


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(MAPPINGS, json=mapping_document(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body.pop("warnings"), list)
    return body


def codes(lines: list[dict[str, Any]]) -> list[str]:
    return [line["code"] for line in lines]


def test_a_mapping_from_creation_to_deletion(
    client: TestClient, store: Store, admin: dict[str, str]
) -> None:
    created = create(client, admin)
    assert created == {
        **mapping_document(),
        "exdmValues": {},
        "primaryKey": None,
        "intervalMinutes": 15,
        "rejectedThresholdPercent": 5.0,
        "deletes": None,
        "publicationStatus": "Draft",
        "executionStatus": "Stopped",
        "nextRunTime": None,
        "publishedDefinition": None,
        "interval": "PT15M",
    }
    assert client.post(MAPPINGS, json=mapping_document(), headers=admin).status_code == 409
    assert client.get(f"{MAPPINGS}/XDM44", headers=admin).json() == created

    patched = client.patch(f"{MAPPINGS}/XDM44", json={"label": "Renamed"}, headers=admin)
    assert patched.status_code == 200
    assert patched.json() == {**created, "label": "Renamed"}

    published = client.post(f"{MAPPINGS}/XDM44/publish", json={"resend": False}, headers=admin)
    assert published.status_code == 200, published.text
    assert published.json()["published"] is True
    assert codes(published.json()["log"]) == PUBLISHED_LOG
    running = client.get(f"{MAPPINGS}/XDM44", headers=admin).json()
    assert (running["publicationStatus"], running["executionStatus"]) == ("Published", "Started")
    assert datetime.fromisoformat(running["nextRunTime"]) <= utcnow()
    assert running["publishedDefinition"] is None

    log = client.get(f"{MAPPINGS}/XDM44/log", headers=admin).json()
    assert codes(log["content"]) == PUBLISHED_LOG
    assert log["count"] == {"value": len(PUBLISHED_LOG)}
    assert log["content"][0]["message"] == "Starting Mapping validation"
    assert {line["level"] for line in log["content"]} == {"info"}
    assert all(datetime.fromisoformat(line["at"]) <= utcnow() for line in log["content"])

    # A change of a published mapping waits for the next publication.
    edited = client.patch(f"{MAPPINGS}/XDM44", json={"label": "Draft label"}, headers=admin)
    assert edited.json()["publicationStatus"] == "Published"
    assert edited.json()["label"] == "Draft label"
    assert edited.json()["publishedDefinition"]["label"] == "Renamed"

    stopped = client.post(f"{MAPPINGS}/XDM44/stop", headers=admin).json()
    assert (stopped["executionStatus"], stopped["nextRunTime"]) == ("Stopped", None)
    started = client.post(f"{MAPPINGS}/XDM44/start", headers=admin).json()
    assert started["executionStatus"] == "Started"
    assert started["nextRunTime"] is not None
    assert client.post(f"{MAPPINGS}/XDM44/stop", headers=admin).status_code == 200

    job = store.jobs.request_ingestion("acme", "XDM44").job
    jobs = client.get(f"{MAPPINGS}/XDM44/jobs", headers=admin).json()
    assert jobs["count"] == {"value": 1}
    assert jobs["content"][0] | {"created": None} == {
        "id": job.id,
        "status": "Created",
        "trigger": "api",
        "batchId": "",
        "recordsRead": 0,
        "recordsIngested": 0,
        "recordsRejected": 0,
        "recordsRefused": 0,
        "recordsDeleted": 0,
        "reason": "",
        "created": None,
        "started": None,
        "ended": None,
    }

    refused = client.delete(f"{MAPPINGS}/XDM44", headers=admin)
    assert refused.status_code == 409
    assert "published" in refused.json()["message"]
    unpublished = client.post(f"{MAPPINGS}/XDM44/unpublish", headers=admin).json()
    assert (unpublished["publicationStatus"], unpublished["executionStatus"]) == (
        "Draft",
        "Stopped",
    )
    running_job = client.delete(f"{MAPPINGS}/XDM44", headers=admin)
    assert running_job.status_code == 409
    assert "in progress" in running_job.json()["message"]
    claimed = store.jobs.claim("worker", timedelta(minutes=1), utcnow())
    assert claimed is not None
    store.jobs.abort_held(claimed.id, "worker", JobOutcome())
    aborted = client.get(f"{MAPPINGS}/XDM44/jobs", headers=admin).json()["content"][0]
    assert aborted["status"] == "Aborted"
    assert aborted["started"] is not None
    assert aborted["ended"] is not None

    deleted = client.delete(f"{MAPPINGS}/XDM44", headers=admin)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"{MAPPINGS}/XDM44", headers=admin).status_code == 404
    assert client.get(f"{MAPPINGS}/XDM44/log", headers=admin).status_code == 404
    assert client.get(f"{MAPPINGS}/XDM44/jobs", headers=admin).status_code == 404


def test_publishing_stopped_and_resending(
    client: TestClient, store: Store, admin: dict[str, str]
) -> None:
    create(client, admin)
    body = {"resend": True, "start": False}
    published = client.post(f"{MAPPINGS}/XDM44/publish", json=body, headers=admin)
    assert published.json()["published"] is True
    mapping = client.get(f"{MAPPINGS}/XDM44", headers=admin).json()
    assert (mapping["executionStatus"], mapping["nextRunTime"]) == ("Stopped", None)
    assert store.mappings.get("acme", "XDM44").watermark is None


def test_a_mapping_that_fails_validation_stays_a_draft(
    client: TestClient, admin: dict[str, str]
) -> None:
    rows = [
        {"source": "@emial", "xdm": "/personalEmail/address"},
        {"source": "'out'", "xdm": BAD_PATH},
    ]
    create(client, admin, fieldMappings=rows)

    answer = client.post(f"{MAPPINGS}/XDM44/publish", headers=admin)

    assert answer.status_code == 422
    body = answer.json()
    assert body["published"] is False
    assert codes(body["log"])[0] == "ACP-880066"
    assert body["log"][-1]["code"] == "ACP-880185"
    assert body["log"][-1]["level"] == "error"
    errors = {line["code"]: line["message"] for line in body["log"] if line["level"] == "error"}
    assert BAD_PATH in errors["ACP-880189"]
    assert "not a valid field of the XDM schema" in errors["ACP-880189"]
    assert any("@emial" in line["message"] for line in body["log"])
    assert "ACP-880092" not in codes(body["log"])
    mapping = client.get(f"{MAPPINGS}/XDM44", headers=admin).json()
    assert mapping["publicationStatus"] == "Draft"
    assert codes(client.get(f"{MAPPINGS}/XDM44/log", headers=admin).json()["content"]) == codes(
        body["log"]
    )


def test_collections_are_paged(client: TestClient, admin: dict[str, str]) -> None:
    for number in range(5):
        create(client, admin, mapping_id=f"XDM{number}")

    everything = client.get(MAPPINGS, headers=admin).json()
    assert [m["id"] for m in everything["content"]] == [f"XDM{n}" for n in range(5)]
    assert everything["count"] == {"value": 5}
    assert "next" not in everything

    seen: list[str] = []
    url = f"{MAPPINGS}?_lineCount=2"
    pages = 0
    while url:
        page = client.get(url, headers=admin).json()
        assert page["count"] == {"value": 5}
        seen.extend(m["id"] for m in page["content"])
        url = page.get("next", {}).get("href", "")
        pages += 1
    assert seen == [f"XDM{n}" for n in range(5)]
    assert pages == 3

    second = client.get(f"{MAPPINGS}?_lineCount=2&_lineStart=2", headers=admin).json()
    assert [m["id"] for m in second["content"]] == ["XDM2", "XDM3"]
    assert second["next"]["href"].endswith(
        "/acme/campaign/dataIngestion/xdmMapping?_lineCount=2&_lineStart=4"
    )
    beyond = client.get(f"{MAPPINGS}?_lineStart=9", headers=admin).json()
    assert beyond == {"content": [], "count": {"value": 5}}
    for bad in ("_lineCount=0", "_lineCount=501", "_lineStart=-1", "_lineCount=many"):
        refused = client.get(f"{MAPPINGS}?{bad}", headers=admin)
        assert refused.status_code == 400, bad
        assert refused.json()["error_code"] == "XDMC-400"


def test_writes_need_the_administration_role(
    client: TestClient, store: Store, admin: dict[str, str]
) -> None:
    create(client, admin)
    user = caller(client, store, "acme", admin=False)

    assert client.get(MAPPINGS, headers=user).json()["count"] == {"value": 1}
    assert client.get(f"{MAPPINGS}/XDM44", headers=user).status_code == 200
    assert client.get(f"{MAPPINGS}/XDM44/log", headers=user).status_code == 200
    assert client.get(f"{MAPPINGS}/XDM44/jobs", headers=user).status_code == 200
    writes = [
        ("POST", MAPPINGS, mapping_document("XDM45")),
        ("PATCH", f"{MAPPINGS}/XDM44", {"label": "x"}),
        ("DELETE", f"{MAPPINGS}/XDM44", None),
        ("POST", f"{MAPPINGS}/XDM44/publish", {}),
        ("POST", f"{MAPPINGS}/XDM44/unpublish", None),
        ("POST", f"{MAPPINGS}/XDM44/start", None),
        ("POST", f"{MAPPINGS}/XDM44/stop", None),
        ("POST", DATASETS, {**PROFILES, "id": "other"}),
    ]
    for method, url, body in writes:
        refused = client.request(method, url, json=body, headers=user)
        assert refused.status_code == 403, (method, url)
        assert refused.json()["role"] == "administration"
        assert refused.json()["error_code"] == "XDMC-403"
    assert client.get(f"{MAPPINGS}/XDM44", headers=admin).json()["label"] == "Profiles to Platform"


def test_another_organization_is_answered_like_an_unknown_mapping(
    client: TestClient, store: Store, tmp_path: Path, admin: dict[str, str]
) -> None:
    create(client, admin)
    stranger = organization(client, store, tmp_path, org="globex")

    unknown_here = client.get("/globex/campaign/dataIngestion/xdmMapping/XDM44", headers=stranger)
    assert unknown_here.status_code == 404
    for suffix in ("", "/log", "/jobs"):
        theirs = client.get(f"{MAPPINGS}/XDM44{suffix}", headers=stranger)
        assert theirs.status_code == 404
        assert theirs.json() == unknown_here.json()
    for method, suffix in [
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/publish"),
        ("POST", "/unpublish"),
        ("POST", "/start"),
        ("POST", "/stop"),
    ]:
        refused = client.request(method, f"{MAPPINGS}/XDM44{suffix}", json={}, headers=stranger)
        assert refused.status_code == 404, (method, suffix)
        assert refused.json() == unknown_here.json()
    assert client.get(MAPPINGS, headers=stranger).status_code == 404
    assert client.post(MAPPINGS, json=mapping_document(), headers=stranger).status_code == 404
    assert client.get(f"{MAPPINGS}/XDM44", headers=admin).json()["publicationStatus"] == "Draft"


def test_invalid_requests_are_400(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin)
    cases: list[tuple[str, str, Any]] = [
        ("POST", MAPPINGS, {"id": "XDM45"}),
        ("POST", MAPPINGS, mapping_document("XDM45", colour="red")),
        ("POST", MAPPINGS, mapping_document("bad id!")),
        ("POST", MAPPINGS, mapping_document("XDM45", dataset="nothing")),
        ("POST", MAPPINGS, [1, 2]),
        ("PATCH", f"{MAPPINGS}/XDM44", {"fieldMappings": []}),
        ("PATCH", f"{MAPPINGS}/XDM44", {"id": "XDM45"}),
        ("PATCH", f"{MAPPINGS}/XDM44", {"colour": "red"}),
        ("PATCH", f"{MAPPINGS}/XDM44", "label"),
        ("POST", f"{MAPPINGS}/XDM44/publish", {"resend": "maybe"}),
        ("POST", f"{MAPPINGS}/XDM44/publish", {"restart": True}),
    ]
    for method, url, body in cases:
        refused = client.request(method, url, json=body, headers=admin)
        assert refused.status_code == 400, (method, url, body, refused.text)
        assert refused.json()["error_code"] == "XDMC-400"
    garbled = client.post(
        MAPPINGS, content=b"{not json", headers={**admin, "Content-Type": "application/json"}
    )
    assert garbled.status_code == 400
    assert (
        "nothing"
        in client.post(
            MAPPINGS, json=mapping_document("XDM45", dataset="nothing"), headers=admin
        ).json()["message"]
    )
    assert client.get(f"{MAPPINGS}/XDM44", headers=admin).json()["label"] == "Profiles to Platform"
    assert client.get(MAPPINGS, headers=admin).json()["count"] == {"value": 1}


def test_lifecycle_conflicts_and_unknown_mappings(
    client: TestClient, admin: dict[str, str]
) -> None:
    create(client, admin)
    for action in ("start", "stop"):
        refused = client.post(f"{MAPPINGS}/XDM44/{action}", headers=admin)
        assert refused.status_code == 409
        assert refused.json()["message"] == "mapping XDM44 is not published"
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/publish"),
        ("POST", "/unpublish"),
        ("GET", "/log"),
        ("GET", "/jobs"),
    ]:
        missing = client.request(method, f"{MAPPINGS}/NOPE{suffix}", json={}, headers=admin)
        assert missing.status_code == 404, (method, suffix)
        assert missing.json() == {"error_code": "XDMC-404", "message": "unknown mapping NOPE"}


def test_the_openapi_document_describes_the_mapping_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    base = "/{org}/campaign/dataIngestion/xdmMapping"
    expected = {
        base: {"get": {"200"}, "post": {"201", "403", "409"}},
        f"{base}/{{mapping_id}}": {
            "get": {"200", "404"},
            "patch": {"200", "400", "403"},
            "delete": {"204", "409"},
        },
        f"{base}/{{mapping_id}}/publish": {"post": {"200", "422"}},
        f"{base}/{{mapping_id}}/unpublish": {"post": {"200"}},
        f"{base}/{{mapping_id}}/start": {"post": {"200", "409"}},
        f"{base}/{{mapping_id}}/stop": {"post": {"200", "409"}},
        f"{base}/{{mapping_id}}/log": {"get": {"200"}},
        f"{base}/{{mapping_id}}/jobs": {"get": {"200"}},
    }
    for path, operations in expected.items():
        for method, statuses in operations.items():
            operation = paths[path][method]
            assert operation["summary"], (path, method)
            assert operation["description"], (path, method)
            assert statuses <= set(operation["responses"]), (path, method)
    listing = paths[base]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"_lineCount", "_lineStart"}


def test_a_preview_is_a_dry_run_any_member_may_ask_for(
    client: TestClient, store: Store, tmp_path: Path, admin: dict[str, str]
) -> None:
    create(client, admin)
    user = caller(client, store, "acme", admin=False)

    answer = client.get(f"{MAPPINGS}/XDM44/preview?limit=1", headers=user)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "mapping": "XDM44",
        "definition": "draft",
        "problems": [],
        "records": [
            {
                "key": 1,
                "record": {
                    "_id": "1",
                    "personalEmail": {"address": "ada@example.com"},
                    "identityMap": {"Email": [{"id": "ada@example.com", "primary": True}]},
                },
                "errors": [],
            }
        ],
    }
    every = client.get(f"{MAPPINGS}/XDM44/preview", headers=user).json()["records"]
    assert [record["key"] for record in every] == [1, 2]
    for bad in ("limit=0", "limit=101", "limit=some"):
        refused = client.get(f"{MAPPINGS}/XDM44/preview?{bad}", headers=user)
        assert refused.status_code == 400, bad
    assert client.get(f"{MAPPINGS}/XDM44/preview?published=true", headers=user).status_code == 409
    stranger = organization(client, store, tmp_path, org="globex")
    assert client.get(f"{MAPPINGS}/XDM44/preview", headers=stranger).status_code == 404
    assert client.get(f"{MAPPINGS}/NOPE/preview", headers=user).status_code == 404

    rows = [
        {"source": "@emial", "xdm": "/personalEmail/address"},
        {"source": "'x'", "xdm": BAD_PATH},
    ]
    client.patch(f"{MAPPINGS}/XDM44", json={"fieldMappings": rows}, headers=admin)
    broken = client.get(f"{MAPPINGS}/XDM44/preview", headers=user).json()
    assert broken["records"] == []
    assert {problem["code"] for problem in broken["problems"]} == {"ACP-880087", "ACP-880189"}
    assert client.get(f"{MAPPINGS}/XDM44/jobs", headers=user).json()["count"] == {"value": 0}

    paths = client.get("/openapi.json").json()["paths"]
    operation = paths["/{org}/campaign/dataIngestion/xdmMapping/{mapping_id}/preview"]["get"]
    assert operation["summary"]
    assert operation["description"]
    assert {"200", "400", "404", "409"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} >= {"limit", "published"}


def test_a_dataset_used_by_another_mapping_is_warned_about(
    client: TestClient, admin: dict[str, str]
) -> None:
    first = client.post(MAPPINGS, json=mapping_document("XDM44"), headers=admin)
    assert first.json()["warnings"] == []
    warning = "Dataset profiles is already used by mapping XDM44: its data may be overwritten"

    second = client.post(MAPPINGS, json=mapping_document("XDM45"), headers=admin)

    assert second.status_code == 201
    assert second.json()["warnings"] == [warning]
    published = client.post(f"{MAPPINGS}/XDM45/publish", headers=admin).json()
    assert published["published"] is True
    assert published["warnings"] == [warning]
    assert [line for line in published["log"] if line["level"] == "warning"] == [
        {"level": "warning", "code": "ACP-880071", "message": warning}
    ]
    log = client.get(f"{MAPPINGS}/XDM45/log", headers=admin).json()["content"]
    assert [line["code"] for line in log][:3] == ["ACP-880066", "ACP-880071", "ACP-880071"]
    assert log[2]["level"] == "warning"
    alone = client.post(f"{MAPPINGS}/XDM44/publish", headers=admin).json()
    assert alone["warnings"] == [
        "Dataset profiles is already used by mapping XDM45: its data may be overwritten"
    ]
