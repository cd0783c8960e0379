"""An organization's destination configuration, and the factory choosing from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm_connector.destinations.aep.destination import PlatformDestination
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.config import LakeConfig, PlatformConfig, parse_destination
from xdm_connector.destinations.factory import OrgDestinations, destination_for
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.destinations.retrying import RetryingDestination
from xdm_connector.errors import DestinationError, InvalidInput
from xdm_connector.settings import Settings

PLATFORM = {
    "type": "platform",
    "imsUrl": "http://127.0.0.1:1",
    "platformUrl": "http://127.0.0.1:1",
    "clientId": "c",
    "clientSecret": "${XDMC_TEST_SECRET}",
    "imsOrgId": "ACME@AdobeOrg",
    "fileFormat": "json",
}


def test_no_configuration_is_the_lake_with_parquet(tmp_path: Path) -> None:
    assert parse_destination(None) == LakeConfig()
    with destination_for(None, Settings(home=tmp_path)) as chosen:
        # The lake comes out retried by the settings' policy.
        assert isinstance(chosen.destination, RetryingDestination)
        assert isinstance(chosen.destination.inner, LakeTables)
        assert chosen.file_format == "parquet"


def test_a_platform_configuration_chooses_the_platform_with_its_format(tmp_path: Path) -> None:
    config = parse_destination(PLATFORM)
    assert isinstance(config, PlatformConfig)
    assert (config.sandbox, config.partial_ingestion_percentage) == ("prod", 5.0)
    with destination_for(PLATFORM, Settings(home=tmp_path)) as chosen:
        assert isinstance(chosen.destination, PlatformDestination)
        assert chosen.file_format == "jsonl"


def test_a_lake_stores_parquet_whatever_its_file_format(tmp_path: Path) -> None:
    # JSON Lines is a format of the platform's uploads; an older lake document keeps parsing.
    with destination_for({"type": "lake", "fileFormat": "json"}, Settings(home=tmp_path)) as chosen:
        assert chosen.file_format == "parquet"


def test_a_lake_may_name_its_own_s3_url_and_nothing_else(tmp_path: Path) -> None:
    config = parse_destination({"type": "lake", "url": "s3://acme-lake/xdm/"})
    assert isinstance(config, LakeConfig)
    assert config.location("/srv/lake") == "s3://acme-lake/xdm"
    assert parse_destination({"type": "lake"}).location("/srv/lake") == "/srv/lake"
    for url in (
        "/etc",
        "file:///etc",
        "s3://key:secret@acme-lake/xdm",
        "s3://acme-lake/../other",
        "http://acme-lake/xdm",
        "s3://Acme/xdm",
    ):
        with pytest.raises(InvalidInput, match="url"):
            parse_destination({"type": "lake", "url": url})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clientSecret": "plain-secret"}, "reference an environment variable"),
        ({"type": "ftp"}, "invalid destination"),
        ({"fileFormat": "csv"}, "fileFormat"),
        ({"sandbox": "Prod Sandbox"}, "sandbox"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_configurations_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        parse_destination({**PLATFORM, **change})
    assert "plain-secret" not in raised.value.message


def test_the_secret_is_read_from_its_variable_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_destination(PLATFORM)
    assert isinstance(config, PlatformConfig)
    monkeypatch.delenv("XDMC_TEST_SECRET", raising=False)
    with pytest.raises(DestinationError, match="XDMC_TEST_SECRET is not set"):
        config.resolve_secret()
    monkeypatch.setenv("XDMC_TEST_SECRET", "value")
    assert config.resolve_secret() == "value"


def test_an_override_is_opened_retried_for_every_organization(tmp_path: Path) -> None:
    memory = InMemoryDestination()
    memory.fail_transiently("create_batch", times=1)
    settings = Settings(home=tmp_path, retry_base_seconds=0.0)
    destinations = OrgDestinations(None, settings, override=memory)  # type: ignore[arg-type]
    with destinations.open("acme") as opened:
        assert isinstance(opened.destination, RetryingDestination)
        batch_id = opened.destination.create_batch(
            org="acme", dataset="profiles", batch_key="k", file_format=opened.file_format
        )
    assert memory.status(batch_id).state is BatchState.LOADING


def test_aborting_a_batch_is_best_effort(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    memory = InMemoryDestination()
    settings = Settings(home=tmp_path, retry_attempts=1)
    destinations = OrgDestinations(None, settings, override=memory)  # type: ignore[arg-type]
    batch_id = memory.create_batch(org="acme", dataset="d", batch_key="k", file_format="jsonl")
    destinations.abort_batch("acme", batch_id)
    assert memory.status(batch_id).state is BatchState.ABORTED
    memory.fail_on("abort", call=2)
    destinations.abort_batch("acme", batch_id)
    assert "aborting batch" in caplog.text
    assert "abort failed (switch)" in caplog.text
