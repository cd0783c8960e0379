"""``/metrics`` in the Prometheus format, counted from the store, for its scraper only."""

from __future__ import annotations

import logging
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
METRICS_TOKEN = "scraper-6f1d0c2a9b8e4f73a5d2c1b0e9f8a7d6"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    return Settings(
        home=tmp_path,
        database_url=database_url,
        embedded_worker=False,
        metrics_token=METRICS_TOKEN,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=SCRAPER)
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


def test_only_the_scraper_reads_the_metrics(
    client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    prepare_demo(settings, store, profiles=PROFILES)
    store.jobs.request_ingestion("demo", "XDM44")

    missing = client.get("/metrics")
    assert (missing.status_code, missing.json()["error_code"]) == (401, "403010")
    refusals: tuple[dict[str, str | bytes], ...] = (
        {"Authorization": "Bearer another-token"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer jeton-d\u00e9j\u00e0-vu".encode("latin-1")},
    )
    for refused in refusals:
        answer = client.get("/metrics", headers=refused)
        assert (answer.status_code, answer.json()["error_code"]) == (401, "401013"), refused
        assert "demo" not in answer.text
    assert "xdmc_queue_depth 1.0" in client.get("/metrics", headers=SCRAPER).text

    assert METRICS_TOKEN not in caplog.text
    assert METRICS_TOKEN not in repr(settings)


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_metrics_token_there_are_no_metrics(
    settings: Settings, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if token is None:
        monkeypatch.delenv("XDMC_METRICS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("XDMC_METRICS_TOKEN", token)
    unset = Settings(home=settings.home, database_url=settings.database_url)
    with TestClient(create_app(unset)) as unguarded:
        store: Store = unguarded.app.state.store  # type: ignore[attr-defined]
        prepare_demo(unset, store, profiles=PROFILES)
        for headers in ({}, SCRAPER, {"Authorization": "Bearer "}):
            answer = unguarded.get("/metrics", headers=headers)
            assert answer.status_code == 404
            assert answer.json() == unguarded.get("/no-such-path").json()
            assert "demo" not in answer.text


def test_the_metrics_token_is_read_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDMC_METRICS_TOKEN", METRICS_TOKEN)
    configured = Settings(home=settings.home, database_url=settings.database_url)
    with TestClient(create_app(configured)) as scraped:
        assert scraped.get("/metrics").status_code == 401
        assert scraped.get("/metrics", headers=SCRAPER).status_code == 200
