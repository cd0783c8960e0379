"""A migrated store on SQLite and PostgreSQL (``tests/integration/store``), an
organization with two published, stopped mappings, and settings allowing the receivers of
127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.store.conftest import database_url, make_world, open_store, store
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

__all__ = ["database_url", "open_store", "store"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        webhook_allow_private=True,
        webhook_retry_base_seconds=10,
        webhook_timeout_seconds=5,
    )


@pytest.fixture
def world(store: Store) -> Store:
    make_world(store, ("XDM1", "XDM2"))
    return store
