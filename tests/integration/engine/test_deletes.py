"""Deletes through the export: a soft-deleted record reaches the lake as a delete, in the
job's commit, counted; a non-boolean ``softDeleteWhen`` does not publish."""

from __future__ import annotations

import pytest

from xdm_connector.demo.setup import demo_mapping
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.xdm.registry import SchemaRegistry

from .conftest import JOBS, PROFILES, SOURCE_KINDS, Engine

LATER = "2030-01-01 00:00:00.000000"


def with_deletes(engine: Engine, condition: str) -> list[str]:
    """Publish XDM44 with ``softDeleteWhen: condition``; answers the log's errors."""
    document = demo_mapping().document()
    document["deletes"] = {"softDeleteWhen": condition, "sweepIntervalMinutes": 1440}
    apply_mapping(engine.store, "demo", type(demo_mapping()).from_document(document))
    result = publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    return [f"{line.code} {line.message}" for line in result.log if line.level == "error"]


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_soft_deleted_records_leave_the_upsert_table_in_the_jobs_commit(engine: Engine) -> None:
    engine.source("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    engine.source("UPDATE profile SET deleted = 1 WHERE id <= 10")
    assert with_deletes(engine, "@deleted = 1") == []
    first = engine.run()
    assert first.state == "Success"
    assert (first.records_read, first.records_ingested) == (PROFILES, PROFILES - 10)
    assert first.records_deleted == 10
    assert sorted(map(int, engine.lake_ids())) == list(range(11, PROFILES + 1))

    engine.source(f"UPDATE profile SET deleted = 1, lastModified = '{LATER}' WHERE id <= 50")
    engine.source(f"UPDATE profile SET deleted = 0, lastModified = '{LATER}' WHERE id <= 5")
    second = engine.run()
    assert second.state == "Success"
    assert second.records_deleted == 45
    assert second.records_ingested == 5  # inserted again after its delete: it comes back
    live = [*range(1, 6), *range(51, PROFILES + 1)]
    assert sorted(map(int, engine.lake_ids())) == live

    listed = engine.client.get(f"{JOBS}/{second.request_id}", headers=engine.headers).json()
    assert listed["recordsDeleted"] == 45


def test_a_soft_delete_condition_that_is_not_boolean_fails_publication(engine: Engine) -> None:
    errors = with_deletes(engine, "@email")
    assert any(
        "deletes.softDeleteWhen" in error and "line 1, column 1" in error for error in errors
    ), errors
    assert with_deletes(engine, "@nope = 1") != []
