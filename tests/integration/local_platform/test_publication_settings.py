"""Publication through the API, the pages and the command line calls the platform with the
process's retry policy and time limit (``XDMC_RETRY_*``, ``XDMC_PLATFORM_TIMEOUT_SECONDS``),
not the defaults: the local platform service, over real HTTP, counts the attempts."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.local_platform.conftest import LocalPlatform
from tests.integration.ui.conftest import post_form, sign_in
from xdm_connector.app import create_app
from xdm_connector.cli import app as cli_app
from xdm_connector.demo.setup import CREDENTIALS_FILE, prepare_demo
from xdm_connector.services.organizations import set_destination
from xdm_connector.services.publication import unpublish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

MAPPING = "/demo/campaign/dataIngestion/xdmMapping/XDM44"
CATALOG_DATASETS = "/catalog/dataSets/"
Publish = Callable[[Settings], tuple[bool, str]]


def settings_of(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(home=tmp_path / "connector", embedded_worker=False, **overrides)


@pytest.fixture(autouse=True)
def _no_connector_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings under test are the ones given, whatever the environment holds."""
    for name in (
        "XDMC_RETRY_ATTEMPTS",
        "XDMC_RETRY_BASE_SECONDS",
        "XDMC_PLATFORM_TIMEOUT_SECONDS",
        "XDMC_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prepared(tmp_path: Path, local_platform: LocalPlatform) -> Path:
    """The demo on an embedded store, delivering to the local platform, ``XDM44`` a draft."""
    settings = settings_of(tmp_path)
    settings.home.mkdir(parents=True)
    store = Store(settings.store_url)
    try:
        store.upgrade()
        prepare_demo(settings, store, profiles=10)
        unpublish_mapping(store, "demo", "XDM44")
        set_destination(store, "demo", local_platform.destination())
    finally:
        store.close()
    return tmp_path


def credentials_of(settings: Settings) -> dict[str, str]:
    document: dict[str, str] = orjson.loads((settings.home / CREDENTIALS_FILE).read_bytes())
    return document


def through_the_api(settings: Settings) -> tuple[bool, str]:
    credentials = credentials_of(settings)
    with TestClient(create_app(settings)) as client:
        token = client.post("/ims/token/v3", data=credentials).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": credentials["client_id"]}
        answer = client.post(f"{MAPPING}/publish", json={"start": False}, headers=headers)
    assert answer.status_code in (200, 422), answer.text
    messages = [f"{line['code']} {line['message']}" for line in answer.json()["log"]]
    return answer.status_code == 200, "\n".join(messages)


def through_the_pages(settings: Settings) -> tuple[bool, str]:
    credentials = credentials_of(settings)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        sign_in(client, credentials["client_id"], credentials["client_secret"])
        page = "/ui/mappings/XDM44"
        answer = post_form(client, f"{page}/publish", page, resend="no")
    assert answer.status_code in (303, 422), answer.text
    return answer.status_code == 303, unescape(answer.text)


def through_the_command_line(settings: Settings) -> tuple[bool, str]:
    env = {
        "XDMC_HOME": str(settings.home),
        "XDMC_RETRY_ATTEMPTS": str(settings.retry_attempts),
        "XDMC_RETRY_BASE_SECONDS": str(settings.retry_base_seconds),
        "XDMC_PLATFORM_TIMEOUT_SECONDS": str(settings.platform_timeout_seconds),
    }
    result = CliRunner().invoke(
        cli_app, ["mappings", "publish", "--org", "demo", "XDM44", "--no-start", "--json"], env=env
    )
    assert result.exit_code in (0, 1), result.output
    messages = [f"{line['code']} {line['message']}" for line in orjson.loads(result.stdout)]
    return result.exit_code == 0, "\n".join(messages)


SURFACES = pytest.mark.parametrize(
    "publish",
    [through_the_api, through_the_pages, through_the_command_line],
    ids=["api", "pages", "cli"],
)


def draft(settings: Settings) -> bool:
    store = Store(settings.store_url)
    try:
        return store.mappings.get("demo", "XDM44").publication_status == "Draft"
    finally:
        store.close()


@SURFACES
def test_publication_makes_as_many_attempts_as_the_settings_say(
    prepared: Path, local_platform: LocalPlatform, publish: Publish
) -> None:
    settings = settings_of(prepared, retry_attempts=2, retry_base_seconds=0.01)
    # Three failures armed, two attempts allowed: the default policy would have tried five
    # times and published.
    local_platform.fault(method="GET", path=CATALOG_DATASETS, status=503, times=3)

    published, output = publish(settings)

    assert not published, output
    assert "ACP-880071 The platform could not be reached" in output
    [left] = local_platform.http.get("/_local/faults").json()
    assert left["left"] == 1
    assert draft(settings)


@SURFACES
def test_publication_goes_through_when_the_settings_allow_enough_attempts(
    prepared: Path, local_platform: LocalPlatform, publish: Publish
) -> None:
    settings = settings_of(prepared, retry_attempts=3, retry_base_seconds=0.01)
    local_platform.fault(method="GET", path=CATALOG_DATASETS, status=503, times=2)

    published, output = publish(settings)

    assert published, output
    assert local_platform.http.get("/_local/faults").json() == []
    assert not draft(settings)


@SURFACES
def test_publication_gives_up_on_a_call_slower_than_the_settings_time_limit(
    prepared: Path, local_platform: LocalPlatform, publish: Publish
) -> None:
    settings = settings_of(prepared, retry_attempts=1, platform_timeout_seconds=0.2)
    # Answered after a second: within the default time limit, past the one set here.
    local_platform.fault(method="GET", path=CATALOG_DATASETS, delaySeconds=1)

    published, output = publish(settings)

    assert not published, output
    assert "ACP-880071 The platform could not be reached" in output
    assert draft(settings)
