"""No source may be the connector's own data: its store, its home, its lake, its platform."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xdm_connector.errors import SourceRefused
from xdm_connector.settings import Settings
from xdm_connector.sources.product_data import ProductData

PG_STORE = "postgresql+psycopg://xdmc@127.0.0.1:5432/xdmc"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    (home / "metadata.db").write_bytes(b"")
    return Settings(
        home=home, lake_path=tmp_path / "lake", platform_home=tmp_path / "platform-home"
    )


def refusal(data: ProductData, url: str) -> SourceRefused:
    with pytest.raises(SourceRefused) as refused:
        data.check_source(url)
    return refused.value


def test_the_store_file_is_refused_however_it_is_written(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ProductData.of(settings)
    store = settings.home / "metadata.db"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "store-link.db").symlink_to(store)
    os.link(store, outside / "store-copy.db")
    monkeypatch.chdir(outside)
    for url in [
        f"sqlite:///{store}",
        f"sqlite:///{store}-wal",
        f"sqlite:///{store}-shm",
        f"sqlite:///{outside}/../home/./metadata.db",
        "sqlite:///../home/metadata.db",
        "sqlite:///store-link.db",
        f"sqlite:///{outside / 'store-copy.db'}",
    ]:
        refused = refusal(data, url)
        assert refused.code == "XDMC-SOURCE-OWN-DATA", url
        assert "the metadata store" in refused.message, url


def test_a_store_outside_the_home_is_refused_too(tmp_path: Path) -> None:
    store = tmp_path / "store" / "xdmc.db"
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{store}")
    refused = refusal(ProductData.of(settings), f"sqlite:///{store}-journal")
    assert "the metadata store" in refused.message
    assert refusal(ProductData.of_store(f"sqlite:///{store}"), f"sqlite:///{store}")


def test_the_connectors_folders_are_refused_but_the_demo_source(
    settings: Settings, tmp_path: Path
) -> None:
    data = ProductData.of(settings)
    (tmp_path / "link-to-home").symlink_to(settings.home)
    for url, where in [
        (f"sqlite:///{settings.home}/crm.db", "XDMC_HOME"),
        (f"sqlite:///{settings.home}/work/job-1/x.db", "XDMC_HOME"),
        (f"sqlite:///{tmp_path}/link-to-home/crm.db", "XDMC_HOME"),
        (f"sqlite:///{tmp_path}/lake/demo/profiles.db", "XDMC_LAKE_PATH"),
        (f"sqlite:///{tmp_path}/platform-home/clients.db", "platform service's home"),
        (f"sqlite:///{settings.home}", "XDMC_HOME"),
    ]:
        refused = refusal(data, url)
        assert refused.code == "XDMC-SOURCE-OWN-DATA", url
        assert where in refused.message, url
    data.check_source(f"sqlite:///{settings.home}/demo-source.db")
    data.check_source(f"sqlite:///{tmp_path}/crm.db")
    data.check_source(f"sqlite:///{tmp_path}/home-not/crm.db")
    data.check_source("sqlite://")


def test_a_secret_file_of_the_connector_is_refused(settings: Settings) -> None:
    data = ProductData.of(settings)
    for option in ("password_file", "sslpassword_file", "passfile"):
        url = f"postgresql://crm@db/crm?{option}={settings.home}/ui-session.key"
        refused = refusal(data, url)
        assert refused.code == "XDMC-SOURCE-OWN-DATA"
        assert "the file of a secret" in refused.message
    data.check_source("postgresql://crm@db/crm?password_file=/run/secrets/crm")


def test_a_sqlite_source_with_options_is_refused(settings: Settings) -> None:
    data = ProductData.of(settings)
    refused = refusal(data, "sqlite:///file:/tmp/x.db?mode=rw&uri=true")
    assert refused.code == "XDMC-SOURCE-URL"
    assert "by its path alone" in refused.message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://xdmc@127.0.0.1:5432/xdmc",
        "postgresql://someone:${PW}@localhost/xdmc",
        "postgresql+psycopg://other@LOCALHOST:5432/xdmc?sslmode=disable",
        "postgresql://xdmc@db.example:5432/crm?host=127.0.0.1&dbname=xdmc",
        "postgresql://xdmc@/xdmc?host=/var/run/postgresql",
        "postgresql://xdmc@127.0.0.1:5432",
        "postgresql://u@db.example/xdmc?hostaddr=127.0.0.1",
        "postgresql://u@[::1]/xdmc",
    ],
)
def test_the_store_database_is_refused_however_it_is_named(url: str) -> None:
    refused = refusal(ProductData.of_store(PG_STORE), url)
    assert refused.code == "XDMC-SOURCE-OWN-DATA"
    assert "the metadata store's PostgreSQL database" in refused.message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://xdmc@127.0.0.1:5432/crm",
        "postgresql://xdmc@127.0.0.1:5433/xdmc",
        "postgresql://crm@127.0.0.1",
        "sqlite:///crm.db",
    ],
)
def test_another_database_is_accepted(url: str) -> None:
    ProductData.of_store(PG_STORE).check_source(url)


def test_a_connection_service_is_refused() -> None:
    refused = refusal(ProductData.of_store(PG_STORE), "postgresql://crm@/crm?service=crm")
    assert refused.code == "XDMC-SOURCE-URL"
