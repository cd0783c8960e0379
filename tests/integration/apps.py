"""An app on each metadata store, driven in-process through its ASGI interface.

Fixtures and helpers shared by the API and security tests; each of their ``conftest.py``
imports the fixtures.
"""

from __future__ import annotations

import sqlite3
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
        database_url = request.getfixturevalue("postgres_store_url")
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


def source_database(folder: Path) -> str:
    """A small SQLite source with a ``profile`` table; answers its URL."""
    path = folder / "source.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE profile (id INTEGER PRIMARY KEY, email TEXT, lastModified DATETIME)"
        )
        connection.executemany(
            "INSERT INTO profile VALUES (?, ?, ?)",
            [(1, "ada@example.com", "2024-01-01 10:00:00"), (2, "bob@example.com", None)],
        )
    connection.close()
    return f"sqlite:///{path}"
