"""The reconciliation of a platform mapping: the product keeps what it delivered
(``delivered_records``), so that a due sweep finds the records gone from the source and the
soft-deleted ones, sends them as work orders, and exports again the ones that drifted; on
SQLite and PostgreSQL sources. A sliced job's deletes reach the platform too."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.engine.test_reconciliation_postgresql import copy_demo
from tests.integration.local_platform.checks import lake_records
from tests.integration.local_platform.conftest import IMS_ORG, LocalPlatform, demo_store
from tests.integration.local_platform.test_export_to_platform import job_detail, run_job
from tests.integration.local_platform.test_platform_deletes import LATER
from xdm_connector.demo.setup import DEMO_ORG, demo_mapping, prepare_demo
from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.reconciliation import compare_mapping
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization, set_destination
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 400
SWEEP = {"softDeleteWhen": "@deleted = 1", "detectHardDeletes": True, "sweepIntervalMinutes": 0}
REFUSED = 40  # every tenth of the profiles


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with demo_store(settings, PROFILES) as opened:
        yield opened


def swept(store: Store, platform: LocalPlatform, **destination: Any) -> None:
    """XDM44 to the local platform (its ``destination`` overrides), reconciled at every
    job."""
    set_destination(store, "demo", platform.destination(**destination))
    document = demo_mapping().document() | {"deletes": SWEEP}
    apply_mapping(store, "demo", MappingDefinition.from_document(document))
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM44", start=False).published


def platform_records(platform: LocalPlatform) -> dict[str, dict[str, object]]:
    lake = platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
    return {str(record["_id"]): record for record in lake_records(lake)}


def emails(platform: LocalPlatform) -> set[str]:
    records = platform_records(platform).values()
    return {record["identityMap"]["Email"][0]["id"] for record in records}  # type: ignore[index]


def delivered_ids(store: Store) -> list[str]:
    return [row[0] for page in store.delivered_records.pages("demo", "XDM44") for row in page]


def source_emails(settings: Settings, condition: str) -> set[str]:
    with sqlite3.connect(settings.demo_source_path) as connection:
        rows = connection.execute(f"SELECT email FROM profile WHERE {condition}").fetchall()
    return {row[0] for row in rows}


# 100 rows gone, 100 more soft-deleted, one changed without its audit value moving.
CHANGES = [
    "DELETE FROM profile WHERE id <= 100",
    "UPDATE profile SET deleted = 1 WHERE id > 100 AND id <= 200",
    """UPDATE profile SET "firstName" = 'Repaired' WHERE id = 300""",
]


def test_a_due_sweep_deletes_the_gone_and_soft_deleted_records_at_the_platform(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    with sqlite3.connect(settings.demo_source_path) as connection:
        connection.execute("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    swept(store, local_platform)
    first = run_job(store, settings)
    assert first.state == JobState.SUCCESS, first.details
    assert len(delivered_ids(store)) == PROFILES
    assert delivered_ids(store) == sorted(delivered_ids(store))  # in key order
    gone = source_emails(settings, "id <= 200")

    with sqlite3.connect(settings.demo_source_path) as connection:
        for statement in CHANGES:
            connection.execute(statement)
    found = compare_mapping(store, settings, "demo", "XDM44")  # a dry run changes nothing
    assert found.document() == {"missing": 200, "differing": 1, "neverDelivered": 0}
    assert len(delivered_ids(store)) == PROFILES

    second = run_job(store, settings)
    assert second.state == JobState.SUCCESS, second.details
    assert (second.records_deleted, second.records_ingested) == (200, 1)
    assert second.details is not None
    assert second.details["reconciliation"]["missing"] == 200
    assert not gone & emails(local_platform)
    assert emails(local_platform) == source_emails(settings, "id > 200")
    live = sorted(str(n) for n in range(201, PROFILES + 1))
    assert delivered_ids(store) == live
    lake = local_platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
    versions = [r["person"]["name"]["firstName"] for r in lake_records(lake) if r["_id"] == "300"]
    assert "Repaired" in versions  # the dataset keeps every version the platform took
    assert job_detail(settings, second.request_id)["recordsDeleted"] == 200

    third = run_job(store, settings)  # converged: nothing more to do
    assert third.state == JobState.SUCCESS, third.details
    assert (third.records_deleted, third.records_ingested) == (0, 0)
    assert delivered_ids(store) == live

    set_destination(store, "demo", {"type": "lake"})  # what went to the platform is forgotten
    assert delivered_ids(store) == []


@pytest.mark.postgres
def test_a_sweep_of_a_postgresql_source_at_the_platform(
    tmp_path: Path, local_platform: LocalPlatform, postgres_source_url: str
) -> None:
    settings = Settings(home=tmp_path / "pg", retry_base_seconds=0.05)
    settings.home.mkdir(parents=True)
    create_demo_source(tmp_path / "demo.db", profiles=PROFILES)
    copy_demo(tmp_path / "demo.db", postgres_source_url)
    store = Store(settings.store_url)
    try:
        store.upgrade()
        create_organization(store, DEMO_ORG, postgres_source_url)
        prepare_demo(settings, store, profiles=PROFILES)
        swept(store, local_platform)
        assert run_job(store, settings).state == JobState.SUCCESS
        engine = sa.create_engine(postgres_source_url)
        with engine.begin() as connection:
            for statement in CHANGES:
                connection.execute(sa.text(statement))
        engine.dispose()
        job = run_job(store, settings)
        live = [str(n) for n in range(201, PROFILES + 1)]
        assert job.state == JobState.SUCCESS, job.details
        assert (job.records_deleted, job.records_ingested) == (200, 1)
        assert sorted(platform_records(local_platform), key=int) == live
        assert len(emails(local_platform)) == PROFILES - 200
        assert delivered_ids(store) == sorted(live)
    finally:
        store.close()


def test_a_sliced_jobs_deletes_reach_the_platform_once(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    sliced = settings.model_copy(update={"slice_rows": 40})
    Worker(store, sliced).announce()  # a peer: the job is cut into slices
    with sqlite3.connect(settings.demo_source_path) as connection:
        connection.execute("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    set_destination(store, "demo", local_platform.destination())
    document = demo_mapping().document() | {"deletes": {"softDeleteWhen": "@deleted = 1"}}
    apply_mapping(store, "demo", MappingDefinition.from_document(document))
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM44", start=False).published
    first = run_job(store, sliced)
    assert first.state == JobState.SUCCESS, first.details
    assert store.slices.of_job(first.id)
    assert len(delivered_ids(store)) == PROFILES

    gone = source_emails(settings, "id <= 100")
    with sqlite3.connect(settings.demo_source_path) as connection:
        connection.execute(
            f"UPDATE profile SET deleted = 1, lastModified = '{LATER}' WHERE id <= 100"
        )
    second = run_job(store, sliced)
    assert second.state == JobState.SUCCESS, second.details
    assert len(store.slices.of_job(second.id)) > 1
    assert second.records_deleted == 100
    assert second.details is not None
    assert "deletesNotDelivered" not in second.details
    assert len(second.details["workOrders"]) == 1  # every slice's deletes, in one work order
    assert not gone & emails(local_platform)
    assert len(emails(local_platform)) == PROFILES - 100
    assert delivered_ids(store) == sorted(str(n) for n in range(101, PROFILES + 1))


def test_records_the_platform_refuses_are_not_delivered_and_are_sent_again(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    with sqlite3.connect(settings.demo_source_path) as connection:
        connection.execute("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    swept(store, local_platform, partialIngestionPercentage=100)
    local_platform.fault(kind="tamper", field="/person/gender", value="robot", every=10)
    first = run_job(store, settings)
    assert first.state == JobState.SUCCESS, first.details
    assert (first.records_ingested, first.records_refused) == (PROFILES - REFUSED, REFUSED)
    accepted = sorted(platform_records(local_platform))
    assert len(accepted) == PROFILES - REFUSED
    assert delivered_ids(store) == accepted  # the refused records are not delivered

    local_platform.fault(kind="tamper", field="/person/gender", value="robot", every=1)
    second = run_job(store, settings)  # sent again, and refused again
    assert second.state == JobState.SUCCESS, second.details
    assert second.details is not None
    assert second.details["reconciliation"]["neverDelivered"] == REFUSED
    assert (second.records_ingested, second.records_refused) == (0, REFUSED)
    assert delivered_ids(store) == accepted

    third = run_job(store, settings)  # sent again, and taken
    assert third.state == JobState.SUCCESS, third.details
    assert (third.records_ingested, third.records_refused) == (REFUSED, 0)
    assert sorted(platform_records(local_platform), key=int) == [
        str(n) for n in range(1, PROFILES + 1)
    ]
    assert delivered_ids(store) == sorted(str(n) for n in range(1, PROFILES + 1))
    fourth = run_job(store, settings)  # converged
    assert (fourth.records_ingested, fourth.records_refused) == (0, 0)
