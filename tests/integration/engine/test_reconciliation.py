"""The reconciliation through the export: a due sweep deletes the records gone from the
source and repairs the ones whose audit value was not touched, in the job's commit; a dry
run reports the same differences and changes nothing."""

from __future__ import annotations

from xdm_connector.demo.setup import demo_mapping
from xdm_connector.pipeline.reconciliation import compare_mapping
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.xdm.registry import SchemaRegistry

from .conftest import PROFILES, Engine

ADDED = 200
"""Profiles copied from the demo's, so that 200 live records remain after 200 deletes."""


def publish_with_sweep(engine: Engine) -> None:
    document = demo_mapping().document()
    document["deletes"] = {
        "softDeleteWhen": "@deleted = 1",
        "detectHardDeletes": True,
        "sweepIntervalMinutes": 0,
    }
    apply_mapping(engine.store, "demo", type(demo_mapping()).from_document(document))
    result = publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    assert [line.message for line in result.log if line.level == "error"] == []


def test_a_due_sweep_leaves_the_upsert_table_with_the_sources_live_keys(engine: Engine) -> None:
    engine.source("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    engine.source(
        "INSERT INTO profile (id, email, firstName, lastName, gender, created, lastModified) "
        f"SELECT id + {PROFILES}, 'copy' || email, firstName, lastName, gender, created, "
        "lastModified FROM profile"
    )
    total = PROFILES + ADDED
    publish_with_sweep(engine)
    first = engine.run()
    assert first.state == "Success"
    assert sorted(map(int, engine.lake_ids())) == list(range(1, total + 1))

    # Gone (100), soft-deleted (100), and one changed without its audit value: none of
    # them is in the next window.
    engine.source("DELETE FROM profile WHERE id <= 100")
    engine.source("UPDATE profile SET deleted = 1 WHERE id > 100 AND id <= 200")
    engine.source("UPDATE profile SET firstName = 'Repaired' WHERE id = 300")
    live = list(range(201, total + 1))

    before = engine.lake()
    report = compare_mapping(engine.store, engine.settings, "demo", "XDM44")
    assert report.document() == {"missing": 200, "differing": 1, "neverDelivered": 0}
    assert engine.lake().equals(before)  # a dry run changes nothing

    second = engine.run()
    assert second.state == "Success", second.reason
    assert second.records_deleted == 200
    assert sorted(map(int, engine.lake_ids())) == live
    table = engine.lake()
    names = {
        row["_id"]: row["person"]["name"]["firstName"]
        for row in table.select(["_id", "person"]).to_pylist()
    }
    repaired = [name for key, name in names.items() if int(key) == 300]
    assert repaired == ["Repaired"]
    assert second.details is not None
    assert second.details["reconciliation"]["missing"] == 200
    assert second.details["reconciliation"]["recordsRepaired"] == 1

    # Converged: the next sweep finds nothing.
    report = compare_mapping(engine.store, engine.settings, "demo", "XDM44")
    assert report.document() == {"missing": 0, "differing": 0, "neverDelivered": 0}
