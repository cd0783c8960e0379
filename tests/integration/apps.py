"""An app on each metadata store, driven in-process through its ASGI interface.

Fixtures shared by the API and security tests; each of their ``conftest.py`` imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xdm_connector.app import create_app
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_url")
    return Settings(home=tmp_path / "home", database_url=database_url, embedded_worker=False)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def store(client: TestClient) -> Store:
    """The app's own store (opened by its lifespan)."""
    app_store: Store = client.app.state.store  # type: ignore[attr-defined]
    return app_store
