"""Changing an organization's destination: where its mappings' watermarks still apply.

A watermark says what the destination already holds. Moving a mapping's records to another
place (the lake, or another platform, organization, sandbox or dataset) resets it, so that
the next export sends every record there; the file format, the credentials or the
threshold are the same place. Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.local_platform.checks import assert_valid_xdm, lake_records
from tests.integration.local_platform.conftest import IMS_ORG, LocalPlatform
from tests.lake import committed_batches
from xdm_connector.cli import app
from xdm_connector.demo.setup import DEMO_SCHEMA, demo_mapping, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import Conflict
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import set_destination
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job, Mapping, utcnow
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 40
LAKE = {"type": "lake"}
LEASE = timedelta(minutes=10)
WATERMARK = {"audit": "2024-01-02T03:04:05+00:00", "key": [42]}


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The connector's settings, also in the environment for the command line."""
    home = tmp_path / "connector"
    home.mkdir()
    monkeypatch.setenv("XDMC_HOME", str(home))
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
        monkeypatch.setenv("XDMC_DATABASE_URL", database_url)
    return Settings(home=home, database_url=database_url, retry_base_seconds=0.05)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The demo, and a second mapping ``XDM45`` into a second dataset ``contacts``."""
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=PROFILES)
    registry = SchemaRegistry.packaged()
    create_dataset(
        opened,
        registry,
        "demo",
        "contacts",
        class_ref=DEMO_SCHEMA[0],
        field_groups=DEMO_SCHEMA[1:],
    )
    contacts = demo_mapping().model_copy(update={"id": "XDM45", "dataset": "contacts"})
    apply_mapping(opened, "demo", contacts)
    assert publish_mapping(opened, registry, "demo", "XDM45", start=False).published
    yield opened
    opened.close()


def export(store: Store, settings: Settings, mapping_id: str = "XDM44") -> Job:
    """Trigger the mapping and run its job with a worker; the job as it ended."""
    request = store.jobs.request_ingestion("demo", mapping_id).job.id
    assert Worker(store, settings).run_once()
    job = store.jobs.get("demo", mapping_id, request)
    assert job.state == JobState.SUCCESS, job.details
    return job


def watermark(store: Store, mapping_id: str = "XDM44") -> dict[str, Any] | None:
    return store.mappings.get("demo", mapping_id).watermark


def give_watermarks(store: Store) -> None:
    """Both mappings have exported something: a watermark each."""
    with store.write() as session:
        for mapping_id in ("XDM44", "XDM45"):
            mapping = session.get(Mapping, ("demo", mapping_id))
            assert mapping is not None
            mapping.watermark = dict(WATERMARK)


def platform(**changes: Any) -> dict[str, Any]:
    """A platform destination (never called: the tests here only store it)."""
    return {
        "type": "platform",
        "imsUrl": "http://127.0.0.1:1",
        "platformUrl": "http://127.0.0.1:1",
        "clientId": "c",
        "clientSecret": "${XDMC_TEST_UNUSED_SECRET}",
        "imsOrgId": "ACME@AdobeOrg",
        "sandbox": "prod",
        **changes,
    }


def test_a_new_destination_gets_every_record_at_the_next_export(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    assert export(store, settings).records_ingested == PROFILES
    assert export(store, settings).records_ingested == 0  # the lake holds them all
    kept = watermark(store)
    assert kept is not None

    change = set_destination(store, "demo", local_platform.destination(fileFormat="json"))

    assert change.reset_mappings == ("XDM44",)  # XDM45 had exported nothing
    assert watermark(store) is None
    destination = store.tenants.get_organization("demo").destination
    assert destination is not None
    assert destination["platformUrl"] == local_platform.url
    job = export(store, settings)
    assert job.records_ingested == PROFILES
    assert local_platform.wait_for(job.batch_id)["status"] == "success"
    records = lake_records(local_platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles")
    assert len(records) == PROFILES
    assert_valid_xdm(records)
    assert export(store, settings).records_ingested == 0  # the platform holds them all now

    # Back to the lake: it is another place again, and gets every record again.
    assert set_destination(store, "demo", LAKE).reset_mappings == ("XDM44",)
    assert export(store, settings).records_ingested == PROFILES
    assert len(committed_batches(settings.lake_root, "demo", "profiles")) == 2


@pytest.mark.parametrize(
    ("before", "after", "reset"),
    [
        (LAKE, {"type": "lake", "fileFormat": "json"}, ()),
        (LAKE, {"type": "lake", "url": "s3://acme-lake/xdm"}, ("XDM44", "XDM45")),
        (platform(), platform(fileFormat="json", partialIngestionPercentage=0), ()),
        (platform(), platform(clientId="d", imsUrl="http://127.0.0.1:2"), ()),
        (platform(), platform(platformUrl="http://127.0.0.1:1/"), ()),
        (platform(), platform(datasetIds={"contacts": "5da9452f"}), ("XDM45",)),
        (platform(datasetIds={"profiles": "profiles"}), platform(), ()),
        (platform(), platform(sandbox="dev"), ("XDM44", "XDM45")),
        (platform(), platform(imsOrgId="OTHER@AdobeOrg"), ("XDM44", "XDM45")),
        (platform(), platform(platformUrl="http://127.0.0.1:3"), ("XDM44", "XDM45")),
        (platform(), LAKE, ("XDM44", "XDM45")),
        (LAKE, platform(), ("XDM44", "XDM45")),
    ],
    ids=[
        "lake-format",
        "lake-to-its-own-url",
        "platform-format-threshold",
        "platform-credentials",
        "platform-url-slash",
        "another-platform-dataset",
        "the-same-platform-dataset",
        "another-sandbox",
        "another-ims-org",
        "another-platform",
        "platform-to-lake",
        "lake-to-platform",
    ],
)
def test_only_a_change_of_place_resets_the_watermarks(
    store: Store, before: dict[str, Any], after: dict[str, Any], reset: tuple[str, ...]
) -> None:
    set_destination(store, "demo", before)
    give_watermarks(store)

    change = set_destination(store, "demo", after)

    assert change.reset_mappings == reset
    for mapping_id in ("XDM44", "XDM45"):
        assert watermark(store, mapping_id) == (None if mapping_id in reset else WATERMARK)


def test_a_change_of_place_waits_for_the_export_in_progress(store: Store) -> None:
    set_destination(store, "demo", platform())
    give_watermarks(store)
    running = store.jobs.request_ingestion("demo", "XDM44").job
    claimed = store.jobs.claim("a-worker", LEASE, utcnow())
    assert claimed is not None
    assert claimed.id == running.id

    with pytest.raises(Conflict, match=f"mapping XDM44 is in progress \\(request {running.id}\\)"):
        set_destination(store, "demo", LAKE)

    destination = store.tenants.get_organization("demo").destination
    assert destination is not None
    assert destination["type"] == "platform"
    assert (watermark(store), watermark(store, "XDM45")) == (WATERMARK, WATERMARK)
    # The same place in another format may change now: no watermark moves.
    assert set_destination(store, "demo", platform(fileFormat="json")).reset_mappings == ()
    # So may a place that only the other mapping's dataset moves to.
    other = set_destination(store, "demo", platform(datasetIds={"contacts": "elsewhere"}))
    assert other.reset_mappings == ("XDM45",)
    assert watermark(store) == WATERMARK


def test_the_command_says_which_watermarks_it_reset(store: Store, settings: Settings) -> None:
    export(store, settings)
    runner = CliRunner()

    moved = runner.invoke(
        app, ["orgs", "set-destination", "demo", orjson.dumps(platform()).decode()]
    )

    assert moved.exit_code == 0, moved.output
    assert orjson.loads(moved.stdout)["type"] == "platform"
    assert moved.stderr.splitlines() == [
        "mapping XDM44: watermark reset, its next export sends every record to the new destination"
    ]
    assert watermark(store) is None

    again = runner.invoke(
        app, ["orgs", "set-destination", "demo", orjson.dumps(platform()).decode()]
    )
    assert again.exit_code == 0, again.output
    assert again.stderr == ""

    store.jobs.request_ingestion("demo", "XDM44")
    refused = runner.invoke(app, ["orgs", "set-destination", "demo", '{"type": "lake"}'])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: XDMC-409 an export of mapping XDM44 is in progress")
