"""The dataset API: create, list, read with the resolved XED schema."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.integration.api.test_mappings_api import PROFILES, caller
from xdm_connector.services.organizations import create_organization
from xdm_connector.store.store import Store

DATASETS = "/acme/campaign/dataIngestion/dataset"
PROFILE_ID = "https://ns.adobe.com/xdm/context/profile"
GROUP_IDS = [
    "https://ns.adobe.com/xdm/context/profile-personal-details",
    "https://ns.adobe.com/xdm/context/identitymap",
]
CUSTOM = {
    "default": {"type": "object", "properties": {"cusBooleanField": {"type": "boolean"}}},
}


def administrator(client: TestClient, store: Store, tmp_path: Path, org: str = "acme") -> dict:
    create_organization(store, org, f"sqlite:///{tmp_path / org}.db")
    return caller(client, store, org)


def test_create_and_read_a_dataset(client: TestClient, store: Store, tmp_path: Path) -> None:
    admin = administrator(client, store, tmp_path)

    created = client.post(DATASETS, json={**PROFILES, "custom": CUSTOM}, headers=admin)

    assert created.status_code == 201, created.text
    assert created.json() == {
        "id": "profiles",
        "class": PROFILE_ID,
        "fieldGroups": GROUP_IDS,
        "custom": CUSTOM,
        "lakeMode": "upsert",  # a record class: one row per _id in the lake
    }
    read = client.get(f"{DATASETS}/profiles", headers=admin)
    assert read.status_code == 200
    body = read.json()
    assert {key: body[key] for key in created.json()} == created.json()
    schema = body["schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    assert schema["properties"]["personalEmail"]["properties"]["address"]["format"] == "email"
    assert "identityMap" in schema["properties"]
    custom_field = schema["properties"]["_customer"]["properties"]["default"]["properties"]
    assert custom_field["cusBooleanField"] == {"type": "boolean"}
    assert "$ref" not in read.text
    assert client.post(DATASETS, json=PROFILES, headers=admin).status_code == 409


def test_datasets_are_listed_a_page_at_a_time(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    admin = administrator(client, store, tmp_path)
    for name, mode in (("a", {}), ("b", {"lakeMode": "append"}), ("c", {})):
        body = {"id": name, "class": "profile", **mode}
        assert client.post(DATASETS, json=body, headers=admin).status_code == 201

    first = client.get(f"{DATASETS}?_lineCount=2", headers=admin).json()

    assert first["content"] == [
        {"id": "a", "class": PROFILE_ID, "fieldGroups": [], "custom": None, "lakeMode": "upsert"},
        {"id": "b", "class": PROFILE_ID, "fieldGroups": [], "custom": None, "lakeMode": "append"},
    ]
    assert first["count"] == {"value": 3}
    last = client.get(first["next"]["href"], headers=admin).json()
    assert [dataset["id"] for dataset in last["content"]] == ["c"]
    assert "next" not in last


def test_invalid_datasets_are_400(client: TestClient, store: Store, tmp_path: Path) -> None:
    admin = administrator(client, store, tmp_path)
    cases = [
        {"id": "x"},
        {"id": "x", "class": "profile", "colour": "red"},
        {"id": "bad id!", "class": "profile"},
        {"id": "x", "class": "nothing"},
        {"id": "x", "class": "profile", "fieldGroups": ["no-such-group"]},
        {"id": "x", "class": "identitymap"},
        {"id": "x", "class": "profile", "custom": {"flag": "boolean"}},
        {"id": "x", "class": "profile", "fieldGroups": "identitymap"},
        {"id": "x", "class": "profile", "lakeMode": "merge"},
    ]
    for body in cases:
        refused = client.post(DATASETS, json=body, headers=admin)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error_code"] == "XDMC-400"
    assert client.get(DATASETS, headers=admin).json() == {"content": [], "count": {"value": 0}}


def test_datasets_are_scoped_to_their_organization(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    admin = administrator(client, store, tmp_path)
    assert client.post(DATASETS, json=PROFILES, headers=admin).status_code == 201
    stranger = administrator(client, store, tmp_path, org="globex")
    user = caller(client, store, "acme", admin=False)

    unknown_here = client.get("/globex/campaign/dataIngestion/dataset/profiles", headers=stranger)
    theirs = client.get(f"{DATASETS}/profiles", headers=stranger)

    assert unknown_here.status_code == theirs.status_code == 404
    assert theirs.json() == unknown_here.json()
    assert theirs.json() == {"error_code": "XDMC-404", "message": "unknown dataset profiles"}
    assert client.get(DATASETS, headers=stranger).status_code == 404
    other = {**PROFILES, "id": "other"}
    assert client.post(DATASETS, json=other, headers=stranger).status_code == 404
    assert client.get(f"{DATASETS}/profiles", headers=user).status_code == 200
    refused = client.post(DATASETS, json=other, headers=user)
    assert refused.status_code == 403
    assert refused.json()["role"] == "administration"


def test_the_openapi_document_describes_the_dataset_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    base = "/{org}/campaign/dataIngestion/dataset"
    for path, method, statuses in [
        (base, "get", {"200"}),
        (base, "post", {"201", "400", "403", "409"}),
        (f"{base}/{{dataset_id}}", "get", {"200", "404"}),
    ]:
        operation = paths[path][method]
        assert operation["summary"]
        assert operation["description"]
        assert statuses <= set(operation["responses"])
