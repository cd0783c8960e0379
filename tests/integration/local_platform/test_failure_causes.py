"""A failed job's cause in words where people look: the job page and ``mappings jobs``
show it beside the contract's reason (``ACP-880096 ... check the error in the Platform
UI``), for an unset secret variable, credentials IMS refuses and an unknown dataset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.local_platform.conftest import SECRET_VARIABLE, LocalPlatform
from tests.integration.ui.conftest import sign_in
from xdm_connector.app import create_app
from xdm_connector.cli import app
from xdm_connector.demo.setup import CREDENTIALS_FILE, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.organizations import set_destination
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "connector"
    home.mkdir()
    monkeypatch.setenv("XDMC_HOME", str(home))
    return Settings(
        home=home, retry_base_seconds=0.01, retry_attempts=2, platform_timeout_seconds=5
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=20)
    yield opened
    opened.close()


def failed_job(store: Store, settings: Settings, destination: dict[str, Any]) -> Job:
    set_destination(store, "demo", destination)
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    assert Worker(store, settings).run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert (job.state, job.reason) == (JobState.FAILED, UPLOAD_FAILED), job.details
    return job


def shown(settings: Settings, job: Job) -> tuple[str, dict[str, Any]]:
    """The job's page, and its row of ``mappings jobs --json``."""
    credentials = orjson.loads((settings.home / CREDENTIALS_FILE).read_bytes())
    quiet = settings.model_copy(update={"embedded_worker": False})
    with TestClient(create_app(quiet)) as client:
        sign_in(client, credentials["client_id"], credentials["client_secret"])
        page = client.get(f"/ui/jobs/{job.request_id}")
        assert page.status_code == 200, page.text
    answer = CliRunner().invoke(app, ["mappings", "jobs", "--org", "demo", "XDM44", "--json"])
    assert answer.exit_code == 0, answer.output
    [row] = [row for row in orjson.loads(answer.output) if row["id"] == job.request_id]
    return page.text, row


def spans(page: str, name: str) -> list[str]:
    """The texts of the page's ``<span class="name">``."""
    return [unescape(text) for text in re.findall(rf'<span class="{name}">(.*?)</span>', page)]


def assert_cause(settings: Settings, job: Job, cause: str) -> None:
    page, row = shown(settings, job)
    assert (row["status"], row["reason"], row["cause"]) == ("Failed", UPLOAD_FAILED, cause)
    assert spans(page, "reason") == [UPLOAD_FAILED]
    assert spans(page, "cause") == [cause]
    assert unescape(page).count(cause) == 1


def test_an_unset_secret_variable(
    store: Store, settings: Settings, local_platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE)
    job = failed_job(store, settings, local_platform.destination())
    cause = f"the platform client secret's environment variable {SECRET_VARIABLE} is not set"
    assert_cause(settings, job, cause)


def test_credentials_ims_refuses(
    store: Store, settings: Settings, local_platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "not-the-secret")
    job = failed_job(store, settings, local_platform.destination())
    cause = (
        f"IMS refused the client credentials of client {local_platform.client_id}: check the "
        "client id and the secret its variable holds"
    )
    assert_cause(settings, job, cause)


def test_an_unknown_dataset(
    store: Store, settings: Settings, local_platform: LocalPlatform
) -> None:
    destination = local_platform.destination(datasetIds={"profiles": "no-such-dataset"})
    job = failed_job(store, settings, destination)
    page, row = shown(settings, job)
    assert row["cause"].startswith(
        "the platform has no dataset no-such-dataset (for the dataset 'profiles') in sandbox "
        "prod: the platform answered 400"
    ), row["cause"]
    assert "does not exist" in row["cause"]
    assert spans(page, "cause") == [row["cause"]]
