"""``/metrics`` in the Prometheus format, counted from the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from xdm_connector.app import create_app
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.export import Exporter
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

PROFILES = 120


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_url")
    return Settings(home=tmp_path, database_url=database_url, embedded_worker=False)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_follow_the_jobs(client: TestClient, settings: Settings) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    prepare_demo(settings, store, profiles=PROFILES)
    before = samples(client)
    assert before[("xdmc_queue_depth", ())] == 0
    assert before[("xdmc_workers", ())] == 0
    assert before[("xdmc_slices_pending", ())] == 0
    assert ("xdmc_export_lag_seconds", (("mapping", "XDM44"), ("org", "demo"))) not in before

    store.jobs.request_ingestion("demo", "XDM44")
    assert samples(client)[("xdmc_queue_depth", ())] == 1
    exporter = Exporter(store, settings, destination=InMemoryDestination())
    Worker(store, settings, exporter=exporter).run_once()

    after = samples(client)
    assert after[("xdmc_queue_depth", ())] == 0
    assert after[("xdmc_workers", ())] == 1  # the worker said it runs
    assert after[("xdmc_jobs", (("org", "demo"), ("state", "Success")))] == 1
    assert after[("xdmc_jobs", (("org", "demo"), ("state", "Failed")))] == 0
    assert after[("xdmc_records_read_total", (("org", "demo"),))] == PROFILES
    assert after[("xdmc_records_ingested_total", (("org", "demo"),))] == PROFILES
    assert after[("xdmc_records_rejected_total", (("org", "demo"),))] == 0
    assert after[("xdmc_job_duration_seconds_count", ())] == 1
    lag = after[("xdmc_export_lag_seconds", (("mapping", "XDM44"), ("org", "demo")))]
    assert 0 <= lag < 600
