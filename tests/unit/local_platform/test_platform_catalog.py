"""The catalog and schema registry reads of publication, against a scripted platform."""

from __future__ import annotations

import httpx
import pytest

from xdm_connector.destinations.aep.catalog import (
    XED_ACCEPT,
    PlatformDataset,
    PlatformSchema,
    open_catalog,
    parse_schema,
)
from xdm_connector.destinations.base import BatchState, BatchStatus, describe_errors
from xdm_connector.destinations.config import PlatformConfig, parse_destination
from xdm_connector.errors import DestinationError, InvalidInput
from xdm_connector.retry import RetryPolicy
from xdm_connector.services.dataset_refresh import (
    PUBLICATION_DEADLINE_SECONDS,
    CatalogAccess,
    RefreshFailed,
    get_dataset,
    get_schema,
    refreshed_spec,
)
from xdm_connector.settings import Settings
from xdm_connector.sources.urls import SECRET_REFERENCE

SCHEMA_ID = "https://ns.adobe.com/acme/schemas/0c3e"
CONFIG = {
    "type": "platform",
    "imsUrl": "https://ims.example",
    "platformUrl": "https://platform.example",
    "clientId": "client-1",
    "clientSecret": "${TEST_CATALOG_SECRET}",
    "imsOrgId": "ACME@AdobeOrg",
    "datasetIds": {"profiles": "ds-42"},
}
POLICY = RetryPolicy(attempts=2, sleep=lambda _s: None)


def platform_config(monkeypatch: pytest.MonkeyPatch) -> PlatformConfig:
    monkeypatch.setenv("TEST_CATALOG_SECRET", "catalog-secret")
    config = parse_destination(CONFIG)
    assert isinstance(config, PlatformConfig)
    return config


class Platform:
    """Answers the token, the dataset ``ds-42`` and its schema; records the requests."""

    def __init__(self, dataset: httpx.Response, schema: httpx.Response) -> None:
        self.dataset = dataset
        self.schema = schema
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        if request.url.path.startswith("/data/foundation/catalog/dataSets/"):
            return self.dataset
        return self.schema


def dataset_answer(**changes: object) -> httpx.Response:
    dataset = {"name": "Profiles", "schemaRef": {"id": SCHEMA_ID, "contentType": XED_ACCEPT}}
    return httpx.Response(200, json={"ds-42": {**dataset, **changes}})


SCHEMA = {
    "$id": SCHEMA_ID,
    "meta:altId": "_acme.schemas.0c3e",
    "title": "Profiles",
    "version": "1.2",
    "meta:class": "https://ns.adobe.com/xdm/context/profile",
    "allOf": [
        {"$ref": "https://ns.adobe.com/xdm/context/profile"},
        {"$ref": "https://ns.adobe.com/xdm/context/identitymap"},
        {"$ref": "https://ns.adobe.com/xdm/common/extensible#/definitions/@context"},
        {"$ref": "https://ns.adobe.com/xdm/context/profile-person-details"},
        {"$ref": "https://ns.adobe.com/xdm/context/identitymap"},
    ],
}


def test_the_dataset_and_its_schema_are_read_with_the_platforms_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = platform_config(monkeypatch)
    platform = Platform(dataset_answer(), httpx.Response(200, json=SCHEMA))
    transport = httpx.MockTransport(platform)
    with open_catalog(config, policy=POLICY, timeout=5.0, transport=transport) as catalog:
        dataset = get_dataset(catalog, config, "profiles")
        schema = get_schema(catalog, dataset)
    assert dataset == PlatformDataset(id="ds-42", name="Profiles", schema_id=SCHEMA_ID)
    assert schema == PlatformSchema(
        id=SCHEMA_ID,
        title="Profiles",
        class_id="https://ns.adobe.com/xdm/context/profile",
        field_group_ids=(
            "https://ns.adobe.com/xdm/context/identitymap",
            "https://ns.adobe.com/xdm/context/profile-person-details",
        ),
        version="1.2",
    )
    _token, read_dataset, read_schema = platform.requests
    assert read_dataset.url.path == "/data/foundation/catalog/dataSets/ds-42"
    assert read_schema.url.raw_path.decode() == (
        "/data/foundation/schemaregistry/tenant/schemas/"
        "https%3A%2F%2Fns.adobe.com%2Facme%2Fschemas%2F0c3e"
    )
    assert read_schema.headers["accept"] == XED_ACCEPT
    for request in (read_dataset, read_schema):
        assert request.headers["x-gw-ims-org-id"] == "ACME@AdobeOrg"
        assert request.headers["x-api-key"] == "client-1"


def test_a_schema_without_meta_class_takes_its_first_reference() -> None:
    document = {key: value for key, value in SCHEMA.items() if key != "meta:class"}
    assert parse_schema(document, SCHEMA_ID).class_id == "https://ns.adobe.com/xdm/context/profile"
    with pytest.raises(DestinationError, match="without a class"):
        parse_schema({"title": "empty"}, SCHEMA_ID)


@pytest.mark.parametrize(
    ("dataset", "schema", "code", "message", "transient"),
    [
        (
            httpx.Response(404, json={"title": "Not Found"}),
            None,
            "ACP-880071",
            "The dataset ds-42 does not exist in the platform (organization ACME@AdobeOrg",
            False,
        ),
        (
            httpx.Response(403, json={"error_code": "403025", "message": "Profile is not valid"}),
            None,
            "ACP-880071",
            "The platform refused to read the dataset ds-42: the platform answered 403 403025",
            False,
        ),
        (
            httpx.Response(503, text="down"),
            None,
            "ACP-880071",
            "The platform could not be reached to read the dataset ds-42",
            True,
        ),
        (
            httpx.Response(200, json={"other": {}}),
            None,
            "ACP-880071",
            "the catalog answered no dataset ds-42",
            False,
        ),
        (
            dataset_answer(schemaRef=None),
            None,
            "ACP-880074",
            "The platform's dataset ds-42 names no XDM schema",
            False,
        ),
        (
            dataset_answer(),
            httpx.Response(404, json={"title": "Not Found"}),
            "ACP-880074",
            f"The XDM schema {SCHEMA_ID} of the platform's dataset ds-42 does not exist",
            False,
        ),
        (
            dataset_answer(),
            httpx.Response(429, headers={"Retry-After": "1"}),
            "ACP-880074",
            f"The platform could not be reached to read the XDM schema {SCHEMA_ID}",
            True,
        ),
    ],
    ids=[
        "dataset-404",
        "dataset-403",
        "dataset-503",
        "dataset-absent",
        "no-schema-ref",
        "schema-404",
        "schema-429",
    ],
)
def test_each_failure_is_a_problem_of_its_step(
    monkeypatch: pytest.MonkeyPatch,
    dataset: httpx.Response,
    schema: httpx.Response | None,
    code: str,
    message: str,
    transient: bool,
) -> None:
    config = platform_config(monkeypatch)
    platform = Platform(dataset, schema or httpx.Response(500))
    transport = httpx.MockTransport(platform)
    with (
        open_catalog(config, policy=POLICY, timeout=5.0, transport=transport) as catalog,
        pytest.raises(RefreshFailed) as raised,
    ):
        get_schema(catalog, get_dataset(catalog, config, "profiles"))
    assert (raised.value.code, raised.value.transient) == (code, transient)
    assert message in raised.value.message
    assert "catalog-secret" not in raised.value.message


def test_a_missing_secret_fails_the_dataset_step(monkeypatch: pytest.MonkeyPatch) -> None:
    config = platform_config(monkeypatch)
    monkeypatch.delenv("TEST_CATALOG_SECRET")
    transport = httpx.MockTransport(Platform(dataset_answer(), httpx.Response(200, json=SCHEMA)))
    with (
        open_catalog(config, policy=POLICY, timeout=5.0, transport=transport) as catalog,
        pytest.raises(RefreshFailed, match="TEST_CATALOG_SECRET is not set") as raised,
    ):
        get_dataset(catalog, config, "profiles")
    assert raised.value.code == "ACP-880071"


def test_the_refreshed_spec_takes_the_platforms_schema_and_keeps_custom_fields() -> None:
    custom = {"default": {"type": "object", "properties": {"flag": {"type": "boolean"}}}}
    spec = {"class": "profile", "fieldGroups": ["identitymap"], "custom": custom}
    schema = parse_schema(SCHEMA, SCHEMA_ID)
    dataset = PlatformDataset(id="ds-42", name="Profiles", schema_id=SCHEMA_ID)
    assert refreshed_spec(spec, dataset, schema) == {
        "class": "https://ns.adobe.com/xdm/context/profile",
        "fieldGroups": [
            "https://ns.adobe.com/xdm/context/identitymap",
            "https://ns.adobe.com/xdm/context/profile-person-details",
        ],
        "custom": custom,
        "platform": {
            "datasetId": "ds-42",
            "name": "Profiles",
            "schemaId": SCHEMA_ID,
            "schemaTitle": "Profiles",
            "schemaVersion": "1.2",
        },
    }


def test_publication_waits_on_the_platform_for_a_bounded_time() -> None:
    tuned = CatalogAccess.from_settings(
        Settings(retry_attempts=7, retry_base_seconds=0.1, platform_timeout_seconds=90)
    )
    assert (tuned.policy.attempts, tuned.policy.base_delay) == (7, 0.1)
    assert tuned.policy.deadline == PUBLICATION_DEADLINE_SECONDS
    assert tuned.timeout == PUBLICATION_DEADLINE_SECONDS
    default = CatalogAccess.from_settings(None)
    assert default.policy.deadline == PUBLICATION_DEADLINE_SECONDS


def test_destination_errors_are_described_on_one_line_and_kept_on_the_error() -> None:
    errors = [
        {"code": "INGEST-1212-400", "description": "Encountered 5 errors.", "recordCount": 5},
        {"code": "INGEST-1211-400", "message": "Too many"},
        "a bare text",
    ]
    assert describe_errors(errors) == (
        "INGEST-1212-400 Encountered 5 errors.; INGEST-1211-400 Too many; a bare text"
    )
    status = BatchStatus(BatchState.FAILED, errors=errors[:1])  # type: ignore[list-item]
    assert status.error_text == "INGEST-1212-400 Encountered 5 errors."
    kept = DestinationError("failed", batch_id="B1", errors=status.errors)
    assert kept.errors == status.errors
    assert kept.errors is not status.errors
    assert DestinationError("failed").errors == []


@pytest.mark.parametrize(
    ("value", "name"),
    [("${ACME_SECRET}", "ACME_SECRET"), ("${_x1}", "_x1"), ("$ACME", None), ("${1A}", None)],
)
def test_one_secret_reference_pattern_serves_sources_and_destinations(
    value: str, name: str | None
) -> None:
    found = SECRET_REFERENCE.match(value)
    assert (found.group(1) if found else None) == name
    document = {**CONFIG, "clientSecret": value}
    if name is None:
        with pytest.raises(InvalidInput, match="clientSecret"):
            parse_destination(document)
    else:
        assert parse_destination(document).model_dump(by_alias=True)["clientSecret"] == value
