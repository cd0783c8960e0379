"""Records the platform refuses, end to end: the local platform service refuses 1,000 of
10,000 records (its ``tamper`` fault), and the job reads them back from the batch's error
diagnostics; its counts, samples and errors are shown by the job API, the job page and
``/metrics``, each platform error once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.local_platform.conftest import LocalPlatform
from tests.integration.ui.conftest import sign_in
from xdm_connector.app import create_app
from xdm_connector.demo.setup import CREDENTIALS_FILE, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.organizations import set_destination
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

PROFILES = 10_000
REFUSED = 1_000
UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."
METRICS_TOKEN = "scraper-token-for-tests"
SAMPLE_ROW = re.compile(r'<tr class="sample-(\w+)">(.*?)</tr>', re.S)
CELL = re.compile(r"<td>(.*?)</td>", re.S)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home of 10,000 profiles, copied by each test (made once: it takes a while)."""
    home = tmp_path_factory.mktemp("demo") / "connector"
    home.mkdir()
    settings = Settings(home=home)
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=PROFILES)
    store.close()
    return home


@pytest.fixture
def settings(tmp_path: Path, demo: Path) -> Settings:
    import shutil

    home = tmp_path / "connector"
    shutil.copytree(demo, home)
    return Settings(
        home=home,
        retry_base_seconds=0.05,
        platform_timeout_seconds=10,
        metrics_token=METRICS_TOKEN,
        embedded_worker=False,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.store_url)
    yield opened
    opened.close()


def run_tampered_job(
    store: Store, settings: Settings, platform: LocalPlatform, **destination: Any
) -> Job:
    """A job of ``XDM44`` whose every tenth record the platform refuses."""
    set_destination(store, "demo", platform.destination(**destination))
    platform.fault(kind="tamper", field="/person/gender", value="robot", every=10)
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    assert Worker(store, settings).run_once()
    return store.jobs.get("demo", "XDM44", request)


class Views:
    """The job as the demo integration sees it: the job API, the job page, the contract's
    status, and the metrics."""

    def __init__(self, settings: Settings) -> None:
        self.credentials = orjson.loads((settings.home / CREDENTIALS_FILE).read_bytes())
        self.client = TestClient(create_app(settings))

    def __enter__(self) -> Views:
        self.client.__enter__()
        token = self.client.post("/ims/token/v3", data=self.credentials).json()["access_token"]
        self.headers = {
            "Authorization": f"Bearer {token}",
            "X-Api-Key": self.credentials["client_id"],
        }
        sign_in(self.client, self.credentials["client_id"], self.credentials["client_secret"])
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def detail(self, job: Job) -> dict[str, Any]:
        url = f"/demo/campaign/dataIngestion/xdmMapping/XDM44/jobs/{job.id}"
        answer = self.client.get(url, headers=self.headers)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def status(self, job: Job) -> bytes:
        url = f"/demo/campaign/dataIngestion/xdmIngestion/XDM44/ingest?requestId={job.request_id}"
        answer = self.client.get(url, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.content

    def page(self, job: Job) -> str:
        answer = self.client.get(f"/ui/jobs/{job.request_id}")
        assert answer.status_code == 200, answer.text
        return answer.text

    def metrics(self) -> dict[str, float]:
        answer = self.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
            if sample.name.startswith("xdmc_records_") and sample.labels.get("org") == "demo"
        }


def sample_rows(page: str) -> list[tuple[str, list[str]]]:
    """The rows of the page's table of samples: who refused, and the cells' text."""
    return [
        (who, [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in CELL.findall(row)])
        for who, row in SAMPLE_ROW.findall(page)
    ]


def count_of(page: str, label: str) -> str:
    found = re.search(rf"<dt>{label}</dt><dd>(\d+)</dd>", page)
    assert found is not None, label
    return found.group(1)


def assert_refused_samples(samples: list[dict[str, Any]]) -> None:
    """Twenty records refused by the platform, each with its key, path, value, reason."""
    assert len(samples) == 20
    for sample in samples:
        assert sample["rejectedBy"] == "platform"
        assert str(sample["key"]).isdigit(), sample  # the record's _id: the profile's key
        assert (sample["path"], sample["value"]) == ("/person/gender", "'robot'")
        assert sample["reason"].startswith("1560 not one of "), sample
    assert len({sample["key"] for sample in samples}) == 20


def assert_page_shows(page: str, job: Job, detail: dict[str, Any]) -> None:
    """The counts, the samples with their reasons, and each platform error once."""
    assert count_of(page, "Read") == str(PROFILES)
    assert count_of(page, "Delivered") == str(job.records_ingested)
    assert count_of(page, "Rejected by the product") == "0"
    assert count_of(page, "Refused by the platform") == str(REFUSED)
    rows = sample_rows(page)
    assert [(who, cells[:3]) for who, cells in rows] == [
        ("platform", [str(s["key"]), "/person/gender", "'robot'"])
        for s in detail["rejectedSamples"]
    ]
    assert all(cells[3].startswith("1560 not one of ") for _, cells in rows)
    assert all(cells[4] == "the platform" for _, cells in rows)
    assert "No record was rejected" not in page
    errors = page[page.index('id="errors-title"') : page.index('id="samples-title"')]
    items = re.findall(r"<li>(.*?)</li>", errors, re.S)
    assert len(items) == len(detail["destinationErrors"])
    for error in detail["destinationErrors"]:
        assert page.count(error["code"]) == 1, error["code"]


def test_refusals_within_the_threshold_are_read_back_and_counted(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    job = run_tampered_job(store, settings, local_platform, partialIngestionPercentage=10)
    assert job.state == JobState.SUCCESS, job.details
    counts = (job.records_read, job.records_ingested, job.records_rejected, job.records_refused)
    assert counts == (PROFILES, PROFILES - REFUSED, 0, REFUSED)
    with Views(settings) as views:
        detail = views.detail(job)
        assert (
            detail["recordsRead"],
            detail["recordsIngested"],
            detail["recordsRejected"],
            detail["recordsRefused"],
        ) == (PROFILES, PROFILES - REFUSED, 0, REFUSED)
        assert_refused_samples(detail["rejectedSamples"])
        assert [(e["code"], e.get("recordCount")) for e in detail["destinationErrors"]] == [
            ("INGEST-1212-400", None),
            ("INGEST-1560-400", REFUSED),
        ]
        assert detail["error"] is None
        page = views.page(job)
        assert_page_shows(page, job, detail)
        assert 'class="cause"' not in page
        # The contract's status body is unchanged: numRecords counts the records delivered.
        assert orjson.loads(views.status(job)) == {
            "batchId": job.batch_id,
            "info": "Mapping Id: XDM44. ",
            "numRecords": PROFILES - REFUSED,
            "requestId": job.request_id,
            "status": "Success",
        }
        metrics = views.metrics()
    assert metrics["xdmc_records_read_total"] == PROFILES
    assert metrics["xdmc_records_ingested_total"] == PROFILES - REFUSED
    assert metrics["xdmc_records_rejected_total"] == 0
    assert metrics["xdmc_records_refused_total"] == REFUSED


def test_refusals_beyond_the_threshold_fail_the_job_with_them(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    job = run_tampered_job(store, settings, local_platform, partialIngestionPercentage=5)
    assert (job.state, job.reason) == (JobState.FAILED, UPLOAD_FAILED)
    assert local_platform.wait_for(job.batch_id)["status"] == "failed"
    counts = (job.records_read, job.records_ingested, job.records_rejected, job.records_refused)
    assert counts == (PROFILES, 0, 0, REFUSED)
    cause = (
        f"the platform refused {REFUSED} of the {PROFILES} records of batch {job.batch_id} "
        "(10.00 %), more than its partial ingestion allows: the batch failed and nothing of "
        "it was kept"
    )
    with Views(settings) as views:
        detail = views.detail(job)
        assert (
            detail["recordsRead"],
            detail["recordsIngested"],
            detail["recordsRejected"],
            detail["recordsRefused"],
        ) == (PROFILES, 0, 0, REFUSED)
        assert detail["error"] == cause
        assert_refused_samples(detail["rejectedSamples"])
        assert [(e["code"], e.get("recordCount")) for e in detail["destinationErrors"]] == [
            ("INGEST-1212-400", None),
            ("INGEST-1560-400", REFUSED),
            ("INGEST-1213-400", None),
        ]
        page = views.page(job)
        assert_page_shows(page, job, detail)
        assert f'<span class="cause">{cause}</span>' in page
        assert orjson.loads(views.status(job)) == {
            "batchId": job.batch_id,
            "info": f"Mapping Id: XDM44. {UPLOAD_FAILED}",
            "numRecords": 0,
            "requestId": job.request_id,
            "status": "Failed",
        }
        metrics = views.metrics()
    assert metrics["xdmc_records_read_total"] == PROFILES
    assert metrics["xdmc_records_ingested_total"] == 0
    assert metrics["xdmc_records_refused_total"] == REFUSED
