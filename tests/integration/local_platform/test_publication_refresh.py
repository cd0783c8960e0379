"""Publishing a mapping whose organization delivers to the local platform service: the
dataset and its XDM schema are read from the platform and refreshed, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.integration.local_platform.conftest import IMS_ORG, LocalPlatform
from xdm_connector.app import create_app
from xdm_connector.demo.setup import CREDENTIALS_FILE, DEMO_SCHEMA, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.local_platform.datasets import create_dataset_of, get_schema
from xdm_connector.retry import RetryPolicy
from xdm_connector.services.dataset_refresh import CatalogAccess
from xdm_connector.services.organizations import set_destination
from xdm_connector.services.publication import publish_mapping_with, unpublish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 40
FAST = CatalogAccess(RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02), timeout=5.0)
WORK_DETAILS = "https://ns.adobe.com/xdm/context/profile-work-details"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    return Settings(
        home=tmp_path / "connector",
        database_url=database_url,
        retry_base_seconds=0.05,
        platform_timeout_seconds=5,
        embedded_worker=False,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    settings.home.mkdir(parents=True)
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=PROFILES)
    unpublish_mapping(opened, "demo", "XDM44")
    yield opened
    opened.close()


def publish(store: Store) -> tuple[bool, list[str]]:
    result = publish_mapping_with(
        store, SchemaRegistry.packaged(), "demo", "XDM44", FAST, start=False
    )
    return result.published, [f"{line.code} {line.message}" for line in result.log]


def platform_dataset(local_platform: LocalPlatform, dataset_id: str) -> dict[str, Any]:
    answer = local_platform.call("GET", f"/data/foundation/catalog/dataSets/{dataset_id}")
    assert answer.status_code == 200, answer.text
    dataset: dict[str, Any] = answer.json()[dataset_id]
    return dataset


def assert_nothing_published(store: Store, spec_before: dict[str, Any]) -> None:
    mapping = store.mappings.get("demo", "XDM44")
    assert mapping.publication_status == "Draft"
    assert store.tenants.get_dataset("demo", "profiles").schema_spec == spec_before
    assert store.mappings.publication_log("demo", "XDM44")[-1].code == "ACP-880185"


def test_publication_refreshes_the_dataset_and_schema_from_the_platform(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    create_dataset_of(
        local_platform.storage,
        SchemaRegistry.packaged(),
        IMS_ORG,
        "prod",
        "profiles-v2",
        [*DEMO_SCHEMA, "profile-work-details"],
    )
    destination = local_platform.destination(datasetIds={"profiles": "profiles-v2"})
    set_destination(store, "demo", destination)
    before = store.tenants.get_dataset("demo", "profiles").schema_spec
    assert WORK_DETAILS not in before["fieldGroups"]

    published, log = publish(store)

    assert published, log
    assert "ACP-880071 Dataset profiles: platform dataset profiles-v2 'profiles-v2'" in log
    schema_id = platform_dataset(local_platform, "profiles-v2")["schemaRef"]["id"]
    refreshed = store.tenants.get_dataset("demo", "profiles").schema_spec
    assert refreshed["class"] == "https://ns.adobe.com/xdm/context/profile"
    assert refreshed["fieldGroups"] == [*before["fieldGroups"], WORK_DETAILS]
    assert refreshed["platform"] == {
        "datasetId": "profiles-v2",
        "name": "profiles-v2",
        "schemaId": schema_id,
        "schemaTitle": "profiles-v2",
    }
    assert store.mappings.get("demo", "XDM44").publication_status == "Published"
    # The refreshed dataset is the one the jobs write, and the platform takes them.
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    assert Worker(store, settings).run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.SUCCESS, job.details
    assert local_platform.wait_for(job.batch_id)["relatedObjects"] == [
        {"type": "dataSet", "id": "profiles-v2"}
    ]
    # Publishing again finds the same schema: the dataset is left as it is.
    assert publish(store)[0]
    assert store.tenants.get_dataset("demo", "profiles").schema_spec == refreshed


def test_a_dataset_unknown_to_the_platform_fails_publication_with_880071(
    store: Store, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination(datasetIds={"profiles": "nowhere"}))
    before = store.tenants.get_dataset("demo", "profiles").schema_spec

    published, log = publish(store)

    assert not published
    [problem] = [line for line in log if line.startswith("ACP-880071 The dataset")]
    assert "The dataset nowhere does not exist in the platform" in problem
    assert IMS_ORG in problem
    assert "ACP-880074 Applying rule: Get and Refresh XDM Schema" not in log
    assert log[-1].startswith("ACP-880185")
    assert_nothing_published(store, before)


def test_a_schema_missing_from_the_platform_fails_publication_with_880074(
    store: Store, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    schema_id = platform_dataset(local_platform, "profiles")["schemaRef"]["id"]
    schema = get_schema(local_platform.storage, IMS_ORG, "prod", schema_id)
    name = schema["meta:altId"].removeprefix("_local.schemas.")
    (local_platform.storage.sandbox(IMS_ORG, "prod") / "schemas" / f"{name}.json").unlink()
    before = store.tenants.get_dataset("demo", "profiles").schema_spec

    published, log = publish(store)

    assert not published
    assert "ACP-880074 Applying rule: Get and Refresh XDM Schema" in log
    [problem] = [line for line in log if line.startswith("ACP-880074 The XDM schema")]
    assert f"The XDM schema {schema_id} of the platform's dataset profiles does not exist" in (
        problem
    )
    assert_nothing_published(store, before)


def test_a_schema_of_field_groups_unknown_here_fails_publication_with_880074(
    store: Store, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    schema_id = platform_dataset(local_platform, "profiles")["schemaRef"]["id"]
    schema = get_schema(local_platform.storage, IMS_ORG, "prod", schema_id)
    schema["allOf"].append({"$ref": "https://ns.adobe.com/acme/mixins/loyalty"})
    name = schema["meta:altId"].removeprefix("_local.schemas.")
    local_platform.storage.save(IMS_ORG, "prod", "schemas", name, schema)
    before = store.tenants.get_dataset("demo", "profiles").schema_spec

    published, log = publish(store)

    assert not published
    [problem] = [line for line in log if line.startswith("ACP-880074 The platform's")]
    assert "https://ns.adobe.com/acme/mixins/loyalty" in problem
    assert_nothing_published(store, before)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"method": "GET", "path": "/catalog/dataSets/", "status": 503, "times": 3}, "ACP-880071"),
        ({"method": "GET", "path": "/schemaregistry/", "status": 502, "times": 3}, "ACP-880074"),
        # Each of the 3 attempts of the call asks IMS 3 times for its token.
        ({"method": "POST", "path": "/ims/token/v3", "status": 500, "times": 9}, "ACP-880071"),
    ],
    ids=["catalog-503", "registry-502", "ims-500"],
)
def test_a_platform_that_keeps_failing_transiently_fails_publication_clearly(
    store: Store, local_platform: LocalPlatform, fault: dict[str, Any], code: str
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(**fault)
    before = store.tenants.get_dataset("demo", "profiles").schema_spec

    published, log = publish(store)

    assert not published
    [problem] = [line for line in log if line.startswith(f"{code} The platform could not")]
    assert "publish again once it answers" in problem
    assert local_platform.http.get("/_local/faults").json() == []  # every attempt was made
    assert_nothing_published(store, before)


def test_a_transient_failure_that_passes_is_retried_and_publishes(
    store: Store, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(method="GET", path="/catalog/dataSets/", status=503, times=2)

    published, log = publish(store)

    assert published, log
    assert store.tenants.get_dataset("demo", "profiles").schema_spec["platform"]["datasetId"] == (
        "profiles"
    )


def test_the_api_answers_a_throttled_platform_with_the_publication_log_not_a_500(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    # Longer than publication waits: refused at once, as a transient failure.
    local_platform.fault(method="GET", path="/catalog/dataSets/", status=429, retryAfter=120)
    credentials = orjson.loads((settings.home / CREDENTIALS_FILE).read_bytes())
    with TestClient(create_app(settings)) as client:
        token = client.post("/ims/token/v3", data=credentials)
        assert token.status_code == 200, token.text
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "X-Api-Key": credentials["client_id"],
        }
        answer = client.post(
            "/demo/campaign/dataIngestion/xdmMapping/XDM44/publish",
            json={"start": False},
            headers=headers,
        )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["published"] is False
    problem, failed = [line for line in body["log"] if line["level"] == "error"]
    assert (problem["code"], failed["code"]) == ("ACP-880071", "ACP-880185")
    assert "could not be reached" in problem["message"]
    assert "429" in problem["message"]
    assert store.mappings.get("demo", "XDM44").publication_status == "Draft"


def test_an_organization_on_the_lake_publishes_without_the_platform(store: Store) -> None:
    before = store.tenants.get_dataset("demo", "profiles").schema_spec

    published, log = publish(store)

    assert published, log
    assert not any("platform dataset" in line for line in log)
    assert store.tenants.get_dataset("demo", "profiles").schema_spec == before
