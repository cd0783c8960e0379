"""The charts of the pages in a real browser: a mapping's recent jobs, and the records
exported and the export lag on the status page, after a job that succeeded and one that
failed. Screenshots go to ``test-artifacts/charts``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Installation, demo_credentials, token_for
from tests.e2e.pages.browser import ARTIFACTS, Screenshots, chromium
from tests.e2e.test_pages import sign_in


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """The demo, served, with a job that succeeded (#1) and one that failed (#2)."""
    installed = Installation(home=tmp_path_factory.mktemp("charts") / "home", database_url=None)
    installed.home.mkdir()
    try:
        installed.cli("demo")
        installed.serve()
        client = token_for(installed.base_url, demo_credentials(installed))
        assert (
            client.wait_until_done("XDM44", client.trigger("XDM44").json()["requestId"])["status"]
            == "Success"
        )
        with closing(sqlite3.connect(installed.home / "demo-source.db")) as connection:
            connection.execute("ALTER TABLE profile RENAME TO profile_gone")
            connection.commit()
        assert (
            client.wait_until_done("XDM44", client.trigger("XDM44").json()["requestId"])["status"]
            == "Failed"
        )
        yield installed
    finally:
        installed.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_the_pages_chart_the_jobs(browser: Browser, site: Installation) -> None:
    errors: list[str] = []
    shots = Screenshots(ARTIFACTS.parent / "charts")
    page = sign_in(browser, site, errors)

    page.goto(f"{site.base_url}/ui/mappings/XDM44")
    chart = page.locator("svg#jobs-chart")
    expect(chart).to_be_visible()
    assert chart.get_attribute("role") == "img"
    assert chart.locator("title").first.text_content() == (
        "Records and duration of the recent export jobs"
    )
    assert (chart.locator("desc").text_content() or "").startswith(
        "2 jobs, #1 to #2: 1 succeeded; 1 failed or aborted (#2 failed). "
        "Most records: 10,000 (job #1). Durations from "
    )
    assert chart.locator("g[data-request]").count() == 2
    expect(chart.locator("g[data-request='2'] text.failure")).to_have_text("✕ Failed")
    assert (
        chart.locator("g[data-request='1'] > title")
        .text_content()
        .startswith("Job #1: Success, 10,000 records, ")
    )
    box = chart.locator("g[data-request='1'] rect.records").bounding_box()
    assert box is not None
    assert box["height"] > 50
    shots.take(page, "mapping page with its jobs chart")

    page.goto(f"{site.base_url}/ui/jobs")
    chart = page.locator("svg#export-chart")
    expect(chart).to_be_visible()
    description = chart.locator("desc").text_content() or ""
    assert description.startswith("2 ended jobs from ")
    assert " UTC exported 10,000 records; failed or aborted: #2 (XDM44). " in description
    assert "Export lag at a job's end: up to " in description
    assert chart.locator("g[data-request]").count() == 2
    expect(chart.locator("g[data-request='2'] text.failure")).to_have_text("✕")
    assert chart.locator("circle.lag").count() == 1
    assert "lag " in (chart.locator("g[data-request='2'] > title").text_content() or "")
    shots.take(page, "status page with its export chart")
    assert errors == []
