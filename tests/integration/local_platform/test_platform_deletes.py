"""Deletes at the platform: soft-deleted records become Data Hygiene work orders of the
local platform service, which removes their identities from its dataset; a work order that
fails fails the job with its reason."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.local_platform.checks import lake_records
from tests.integration.local_platform.conftest import IMS_ORG, LocalPlatform, demo_store
from tests.integration.local_platform.test_export_to_platform import PROFILES, job_detail, run_job
from xdm_connector.demo.setup import demo_mapping
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import set_destination
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

LATER = "2030-01-01 00:00:00.000000"


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with demo_store(settings, PROFILES) as opened:
        yield opened


WORK_ORDERS = "/data/core/hygiene/workorder"


def source(settings: Settings, statement: str) -> None:
    with sqlite3.connect(settings.demo_source_path) as connection:
        connection.execute(statement)


def with_soft_deletes(store: Store, settings: Settings, platform: LocalPlatform) -> None:
    """XDM44 to the local platform, its records deleted when ``@deleted = 1``."""
    set_destination(store, "demo", platform.destination())
    source(settings, "ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    document = demo_mapping().document() | {"deletes": {"softDeleteWhen": "@deleted = 1"}}
    apply_mapping(store, "demo", MappingDefinition.from_document(document))
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM44", start=False).published


def delete(settings: Settings, condition: str) -> None:
    source(settings, f"UPDATE profile SET deleted = 1, lastModified = '{LATER}' WHERE {condition}")


def emails(platform: LocalPlatform) -> set[str]:
    lake = platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
    return {record["identityMap"]["Email"][0]["id"] for record in lake_records(lake)}


def source_emails(settings: Settings, condition: str) -> set[str]:
    with sqlite3.connect(settings.demo_source_path) as connection:
        rows = connection.execute(f"SELECT email FROM profile WHERE {condition}").fetchall()
    return {row[0] for row in rows}


def test_soft_deleted_records_leave_the_platforms_dataset_by_work_order(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    with_soft_deletes(store, settings, local_platform)
    first = run_job(store, settings)
    assert first.state == JobState.SUCCESS, first.details
    assert len(emails(local_platform)) == PROFILES

    delete(settings, "id <= 20")
    gone = source_emails(settings, "id <= 20")
    second = run_job(store, settings)
    assert second.state == JobState.SUCCESS, second.details
    assert second.records_deleted == 20
    assert second.records_ingested == 0
    assert emails(local_platform) == source_emails(settings, "id > 20")
    assert not gone & emails(local_platform)

    [work_order_id] = second.details["workOrders"]
    order: dict[str, Any] = local_platform.call("GET", f"{WORK_ORDERS}/{work_order_id}").json()
    assert (order["status"], order["action"]) == ("completed", "identity-delete")
    listed = local_platform.call("GET", WORK_ORDERS).json()
    assert [entry["workorderId"] for entry in listed["results"]] == [work_order_id]
    detail = job_detail(settings, second.request_id)
    assert detail["recordsDeleted"] == 20
    assert detail["recordsIngested"] == 0, detail


def test_a_failed_work_order_fails_the_job_with_its_reason(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    with_soft_deletes(store, settings, local_platform)
    assert run_job(store, settings).state == JobState.SUCCESS
    delete(settings, "id <= 5")
    local_platform.fault(kind="workorder", value="the dataset is being restored")
    failed = run_job(store, settings)
    assert failed.state == JobState.FAILED
    assert "the dataset is being restored" in failed.details["error"]
    assert failed.details["destinationErrors"][0]["code"] == "WORK-ORDER-FAILED"
    assert len(emails(local_platform)) == PROFILES  # nothing deleted, nothing committed

    again = run_job(store, settings)  # the same deletes, a new work order: it completes
    assert again.state == JobState.SUCCESS, again.details
    assert again.records_deleted == 5
    assert len(emails(local_platform)) == PROFILES - 5


def test_the_service_answers_the_platforms_errors(local_platform: LocalPlatform) -> None:
    body = {
        "displayName": "cleanup",
        "action": "delete-identity",
        "datasetId": "nope",
        "namespacesIdentities": [{"namespace": {"code": "Email"}, "IDs": ["a@example.com"]}],
    }
    assert local_platform.call("POST", WORK_ORDERS, json=body).status_code == 404
    wrong = {**body, "datasetId": "profiles", "action": "delete-everything"}
    assert local_platform.call("POST", WORK_ORDERS, json=wrong).status_code == 400
    empty = {**body, "datasetId": "profiles", "namespacesIdentities": []}
    assert local_platform.call("POST", WORK_ORDERS, json=empty).status_code == 400
    assert local_platform.call("GET", f"{WORK_ORDERS}/DI-unknown").status_code == 404


def test_the_work_order_list_takes_the_documented_parameters(
    local_platform: LocalPlatform,
) -> None:
    ids = []
    for n, name in enumerate(["Cleanup March", "cleanup april", "Loyalty purge"]):
        body = {
            "displayName": name,
            "description": f"request {n}",
            "action": "delete-identity",
            "datasetId": "profiles",
            "namespacesIdentities": [{"namespace": {"code": "Email"}, "IDs": [f"{n}@x.com"]}],
        }
        created = local_platform.call("POST", WORK_ORDERS, json=body)
        assert created.status_code == 200, created.text
        ids.append(created.json()["workorderId"])

    def listed(**params: Any) -> dict[str, Any]:
        answer = local_platform.call("GET", WORK_ORDERS, params=params)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def names(document: dict[str, Any]) -> list[str]:
        return [order["displayName"] for order in document["results"]]

    found = listed(search="CLEANUP", orderBy="+displayName")
    assert names(found) == ["Cleanup March", "cleanup april"]
    assert (found["total"], found["count"]) == (2, 2)
    assert "next" not in found["_links"]
    assert found["_links"]["page"]["templated"] is True
    assert names(listed(search="request 2")) == ["Loyalty purge"]  # the description
    assert names(listed(search=ids[1])) == ["cleanup april"]  # the exact id
    assert names(listed(displayName="loyalty PURGE")) == ["Loyalty purge"]
    assert listed(type="identity-delete")["total"] == 3
    assert listed(type="other")["total"] == 0
    assert listed(workorderId=ids[0])["results"][0]["workorderId"] == ids[0]

    first = listed(limit=2, orderBy="+displayName")  # a page of two, from page 0
    assert (names(first), first["total"], first["count"]) == (
        ["Cleanup March", "Loyalty purge"],
        3,
        2,
    )
    assert "page=1" in first["_links"]["next"]["href"]
    last = listed(limit=2, page=1, orderBy="+displayName")
    assert (names(last), last["count"]) == (["cleanup april"], 1)
    assert "next" not in last["_links"]
    assert listed(status="completed,failed,received,submitted")["total"] == 3
    assert local_platform.call("GET", WORK_ORDERS, params={"limit": 101}).status_code in (400, 422)
