"""Records refused by shaping or validation: counted, sampled, and failing the job over the
mapping's threshold."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.engine.conftest import JOBS, PROFILES, SOURCE_KINDS, Engine
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.pipeline.files import json_lines
from xdm_connector.pipeline.plan import describe_targeting_dimension, plan_export
from xdm_connector.pipeline.shaping import RecordShaper
from xdm_connector.pipeline.validate import RecordChecks
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.validation import RecordValidator

UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."


@pytest.fixture(params=SOURCE_KINDS)
def source_kind(request: pytest.FixtureRequest) -> str:
    """The demo's source: its SQLite file, and its copy in MariaDB."""
    kind: str = request.param
    return kind


def test_below_the_threshold_the_job_succeeds_and_counts_the_rejected(engine: Engine) -> None:
    # 4 bad emails (a format shaping does not check) and 1 bad country code: 2.5 %.
    engine.source("update profile set email = 'no-at-sign' where id in (3, 4, 5, 6)")
    engine.source(
        "update postalAddress set countryCode = 'fr'"
        " where id = (select postalAddress_id from profile where id = 9)"
    )
    job = engine.run()
    assert job.state == JobState.SUCCESS, job.reason
    assert (job.records_read, job.records_ingested, job.records_rejected) == (
        PROFILES,
        PROFILES - 5,
        5,
    )
    assert engine.status(job.id)["info"] == "Mapping Id: XDM44. "
    assert engine.status(job.id)["numRecords"] == PROFILES - 5
    assert sorted(int(key) for key in set(engine.lake_ids())) == [
        key for key in range(1, PROFILES + 1) if key not in (3, 4, 5, 6, 9)
    ]

    detail = engine.client.get(f"{JOBS}/{job.id}", headers=engine.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["recordsRead"], body["recordsIngested"], body["recordsRejected"]) == (
        PROFILES,
        PROFILES - 5,
        5,
    )
    assert [step["state"] for step in body["timeline"]] == [
        "Created",
        "Started",
        "Uploaded",
        "Success",
    ]
    assert all(step["at"] for step in body["timeline"])
    assert body["window"]["after"] is None
    assert body["window"]["until"]["key"] >= 1
    samples = {(sample["key"], sample["path"]) for sample in body["rejectedSamples"]}
    assert samples == {
        (3, "/personalEmail/address"),
        (4, "/personalEmail/address"),
        (5, "/personalEmail/address"),
        (6, "/personalEmail/address"),
        (9, "/homeAddress/countryCode"),
    }
    email = next(s for s in body["rejectedSamples"] if s["key"] == 3)
    assert (email["value"], email["reason"]) == ("'no-at-sign'", "not a valid email")
    assert body["rejectedThresholdPercent"] == 5.0
    unknown = engine.client.get(f"{JOBS}/424242", headers=engine.headers)
    assert unknown.status_code == 404


def test_above_the_threshold_the_job_fails_with_an_aborted_batch(engine: Engine) -> None:
    engine.source("update profile set email = 'bad email@example.com' where id <= 8")
    engine.source("update profile set email = null where id > 190")  # no identity left
    job = engine.run()
    assert job.state == JobState.FAILED
    assert job.reason == UPLOAD_FAILED
    assert job.batch_id
    assert (job.records_read, job.records_ingested, job.records_rejected) == (PROFILES, 0, 18)
    status = engine.status(job.id)
    assert status == {
        "batchId": job.batch_id,
        "info": f"Mapping Id: XDM44. {UPLOAD_FAILED}",
        "numRecords": 0,
        "requestId": job.id,
        "status": "Failed",
    }
    lake = LakeTables(engine.settings.lake_root)
    assert lake.status(job.batch_id).state is BatchState.ABORTED
    assert engine.lake_ids() == []
    assert engine.store.mappings.get("demo", "XDM44").watermark is None
    body = engine.client.get(f"{JOBS}/{job.id}", headers=engine.headers).json()
    assert "18 of 200 records were rejected" in body["error"]
    paths = {sample["path"] for sample in body["rejectedSamples"]}
    assert paths == {"/personalEmail/address", "/identityMap"}

    # Fixed at the source, the next run exports every record.
    fixed, back = (engine.concat(f"'{word}'", "id", "'@example.com'") for word in ("fixed", "back"))
    engine.source(f"update profile set email = {fixed} where id <= 8")
    engine.source(f"update profile set email = {back} where id > 190")
    again = engine.run()
    assert again.state == JobState.SUCCESS, again.reason
    assert again.records_ingested == PROFILES


def test_the_columnar_checks_agree_with_the_record_validator(engine: Engine) -> None:
    engine.source("update profile set email = 'not-an-email' where id % 7 = 0")
    engine.source("update profile set email = 'a b@example.com' where id % 11 = 0")
    engine.source("update profile set email = 'ünï@exämple.com' where id % 13 = 0")
    engine.source("update profile set email = null where id % 17 = 0")
    engine.source("update postalAddress set countryCode = 'fr' where id % 5 = 0")
    if engine.source_kind == "sqlite":  # MariaDB's firstName holds at most 50 characters
        engine.source("update profile set firstName = ? where id = 2", "x" * 110_000)
    mapping = engine.store.mappings.get("demo", "XDM44")
    definition = MappingDefinition.from_document(mapping.published_definition)
    dataset = engine.store.tenants.get_dataset("demo", definition.dataset)
    schema = dataset_schema(SchemaRegistry.packaged(), dataset.schema_spec)
    with SourceDatabase(engine.source_url, ProductData.of(engine.settings)) as source:
        plan = plan_export(definition, schema, describe_targeting_dimension(source, definition))
        query = plan.compiler.select(
            {plan.labels[path]: compiled for path, compiled in plan.targets.items()}
        )
        batches = list(source.read_batches(query, batch_rows=64))
    shaper = RecordShaper(schema.root, plan.labels, plan.constant_paths)
    checks = RecordChecks(schema, shaper.output_schema)
    validator = RecordValidator(schema)
    refused = 0
    for batch in batches:
        records = shaper.shape(batch).records
        checked = checks.check(records)
        lines = json_lines(records).splitlines()
        expected = [bool(validator.errors(orjson.loads(line))) for line in lines]
        assert checked.rejected.to_pylist() == expected
        refused += sum(expected)
    assert refused > 50
