"""Jobs of a real store delivering to the local platform service, with failures injected."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.integration.local_platform.checks import assert_valid_xdm, lake_records
from tests.integration.local_platform.conftest import IMS_ORG, LocalPlatform, demo_store
from xdm_connector.app import create_app
from xdm_connector.demo.setup import CREDENTIALS_FILE
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.organizations import set_destination
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

PROFILES = 200
UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "connector",
        retry_base_seconds=0.05,
        platform_timeout_seconds=5,
        platform_part_bytes=2048,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with demo_store(settings, PROFILES) as opened:
        yield opened


def run_job(store: Store, settings: Settings) -> Job:
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    assert Worker(store, settings).run_once()
    return store.jobs.get("demo", "XDM44", request)


def job_detail(settings: Settings, job_id: int) -> dict[str, Any]:
    """``GET .../xdmMapping/XDM44/jobs/{job_id}`` as the demo integration."""
    credentials = orjson.loads((settings.home / CREDENTIALS_FILE).read_bytes())
    quiet = settings.model_copy(update={"embedded_worker": False})
    with TestClient(create_app(quiet)) as client:
        token = client.post("/ims/token/v3", data=credentials).json()["access_token"]
        answer = client.get(
            f"/demo/campaign/dataIngestion/xdmMapping/XDM44/jobs/{job_id}",
            headers={"Authorization": f"Bearer {token}", "X-Api-Key": credentials["client_id"]},
        )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def pending(platform: LocalPlatform) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = platform.http.get("/_local/faults").json()
    return answer


@pytest.mark.parametrize(
    ("file_format", "large_file_bytes"),
    [
        ("parquet", 256 * 1024 * 1024),
        ("parquet", 4096),
        ("json", 256 * 1024 * 1024),
        ("json", 4096),
    ],
    ids=["parquet", "parquet-large", "json", "json-large"],
)
def test_a_job_delivers_every_record_valid_xdm(
    store: Store,
    settings: Settings,
    local_platform: LocalPlatform,
    file_format: str,
    large_file_bytes: int,
) -> None:
    set_destination(store, "demo", local_platform.destination(fileFormat=file_format))
    local_platform.fault(method="PATCH", path="/files/", times=10_000)  # counts, lets through
    tuned = settings.model_copy(update={"platform_large_file_bytes": large_file_bytes})
    job = run_job(store, tuned)
    assert job.state == JobState.SUCCESS, job.details
    assert job.records_ingested == PROFILES
    batch = local_platform.wait_for(job.batch_id)
    assert batch["status"] == "success"
    assert batch["inputFormat"]["format"] == file_format
    assert batch["metrics"]["outputRecordCount"] == PROFILES
    [counter] = pending(local_platform)
    parts = 10_000 - counter["left"]
    assert (parts > 1) == (large_file_bytes == 4096)
    lake = local_platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
    records = lake_records(lake)
    assert len(records) == PROFILES
    assert_valid_xdm(records)


def test_transient_failures_are_retried_honouring_retry_after(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(method="POST", path="/import/batches$", status=429, retryAfter=1)
    local_platform.fault(method="PUT", path="/files/", status=503, times=2)
    local_platform.fault(method="GET", path="/catalog/batches/", status=502)
    started = time.monotonic()
    job = run_job(store, settings)
    assert job.state == JobState.SUCCESS, job.details
    assert time.monotonic() - started >= 1.0
    assert pending(local_platform) == []
    assert len(local_platform.call("GET", "/data/foundation/catalog/batches").json()) == 1


def test_a_call_that_times_out_is_tried_again(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(method="GET", path="/catalog/batches/", delaySeconds=1.5)
    job = run_job(store, settings.model_copy(update={"platform_timeout_seconds": 0.5}))
    assert job.state == JobState.SUCCESS, job.details
    assert pending(local_platform) == []


def test_a_terminal_refusal_fails_the_job_at_once(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(method="PUT", path="/files/", status=403, times=2)
    job = run_job(store, settings)
    assert (job.state, job.reason) == (JobState.FAILED, UPLOAD_FAILED)
    assert job.batch_id
    assert [fault["left"] for fault in pending(local_platform)] == [1]  # not retried
    assert local_platform.wait_for(job.batch_id)["status"] == "aborted"


def test_a_batch_failing_validation_fails_the_job_with_the_platforms_errors(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination())
    local_platform.fault(kind="tamper", field="/person/gender", value="robot")
    job = run_job(store, settings)
    assert (job.state, job.reason) == (JobState.FAILED, UPLOAD_FAILED)
    batch = local_platform.wait_for(job.batch_id)
    assert batch["status"] == "failed"
    assert job.details is not None
    assert job.details["error"] == (
        f"the platform refused {PROFILES} of the {PROFILES} records of batch {job.batch_id} "
        "(100.00 %), more than its partial ingestion allows: the batch failed and nothing "
        "of it was kept"
    )
    counts = (job.records_read, job.records_ingested, job.records_rejected, job.records_refused)
    assert counts == (PROFILES, 0, 0, PROFILES)
    samples = job.details["rejectedSamples"]
    assert len(samples) == 20
    assert {(s["path"], s["value"], s["rejectedBy"]) for s in samples} == {
        ("/person/gender", "'robot'", "platform")
    }
    assert all(s["reason"].startswith("1560 not one of ") for s in samples)
    assert job.details["destinationErrors"] == batch["errors"]
    assert [
        (error["code"], error.get("recordCount")) for error in job.details["destinationErrors"]
    ] == [("INGEST-1212-400", None), ("INGEST-1560-400", PROFILES), ("INGEST-1213-400", None)]
    assert job.details["destinationErrors"][0]["description"] == (
        f"Encountered {PROFILES} errors in the data. Successfully ingested 0 rows. "
        "Please review the associated diagnostic files for more details."
    )
    assert store.mappings.get("demo", "XDM44").watermark is None
    failed = local_platform.call("GET", f"/data/foundation/export/batches/{job.batch_id}/failed")
    assert len(failed.content.splitlines()) == PROFILES
    # The job's API answers the platform's errors as the platform gave them.
    detail = job_detail(settings, job.id)
    assert (detail["status"], detail["reason"], detail["batchId"]) == (
        "Failed",
        UPLOAD_FAILED,
        job.batch_id,
    )
    assert detail["destinationErrors"] == [
        {
            "code": "INGEST-1212-400",
            "description": (
                f"Encountered {PROFILES} errors in the data. Successfully ingested 0 rows. "
                "Please review the associated diagnostic files for more details."
            ),
        },
        {
            "code": "INGEST-1560-400",
            "description": batch["errors"][1]["description"],
            "recordCount": PROFILES,
        },
        {
            "code": "INGEST-1213-400",
            "description": (
                f"{PROFILES} of {PROFILES} rows (100.00%) failed validation: "
                "more than the partial ingestion threshold of 5%."
            ),
        },
    ]
    assert batch["errors"][1]["description"]


def test_refusals_within_the_threshold_are_counted_as_refused(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination(partialIngestionPercentage=5))
    local_platform.fault(kind="tamper", field="/person/gender", value="robot", every=50)
    job = run_job(store, settings)
    assert job.state == JobState.SUCCESS, job.details
    counts = (job.records_read, job.records_ingested, job.records_rejected, job.records_refused)
    assert counts == (PROFILES, PROFILES - 4, 0, 4)
    assert job.details is not None
    assert [s["rejectedBy"] for s in job.details["rejectedSamples"]] == ["platform"] * 4
    assert [
        (error["code"], error.get("recordCount")) for error in job.details["destinationErrors"]
    ] == [("INGEST-1212-400", None), ("INGEST-1560-400", 4)]
    assert job.details["destinationErrors"][0]["description"] == (
        f"Encountered 4 errors in the data. Successfully ingested {PROFILES - 4} rows. "
        "Please review the associated diagnostic files for more details."
    )


@pytest.mark.parametrize(
    ("limits", "file_format", "why"),
    [
        (
            {"platform_max_files_per_batch": 2, "max_file_bytes": 4096},
            "parquet",
            r"the job would send \d+ files in one batch, more than the platform's 2 files per "
            r"batch \(XDMC_PLATFORM_MAX_FILES_PER_BATCH\); write larger files "
            r"\(XDMC_MAX_FILE_BYTES\)",
        ),
        (
            {"platform_max_batch_bytes": 2048},
            "parquet",
            r"the job would send \d+ bytes in one batch, more than the platform's 2048 bytes "
            r"per batch \(XDMC_PLATFORM_MAX_BATCH_BYTES\)",
        ),
        (
            {"platform_max_record_bytes": 300},
            "json",
            r"part-00000\.jsonl holds a record of \d+ bytes, more than the platform's 300 bytes "
            r"per record \(XDMC_PLATFORM_MAX_RECORD_BYTES\)",
        ),
    ],
    ids=["files-per-batch", "batch-bytes", "record-bytes"],
)
def test_a_job_over_a_guardrail_fails_before_sending_anything(
    store: Store,
    settings: Settings,
    local_platform: LocalPlatform,
    limits: dict[str, int],
    file_format: str,
    why: str,
) -> None:
    set_destination(store, "demo", local_platform.destination(fileFormat=file_format))
    job = run_job(store, settings.model_copy(update=limits))
    assert (job.state, job.reason, job.batch_id) == (JobState.FAILED, UPLOAD_FAILED, "")
    assert job.details is not None
    assert re.fullmatch(why, job.details["error"]), job.details["error"]
    assert (job.records_read, job.records_ingested, job.records_refused) == (PROFILES, 0, 0)
    assert local_platform.call("GET", "/data/foundation/catalog/batches").json() == {}
    assert store.mappings.get("demo", "XDM44").watermark is None


def test_a_job_within_the_guardrails_is_delivered_whole(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    set_destination(store, "demo", local_platform.destination(fileFormat="json"))
    limits = {"max_file_bytes": 4096, "platform_large_file_bytes": 4096}
    job = run_job(store, settings.model_copy(update=limits))
    assert job.state == JobState.SUCCESS, job.details
    batch = local_platform.wait_for(job.batch_id)
    assert batch["metrics"]["inputFileCount"] > 1
    assert batch["metrics"]["outputRecordCount"] == job.records_ingested == PROFILES
