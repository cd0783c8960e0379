"""Fixtures shared by every test layer.

PostgreSQL tests use the server named by ``XDMC_TEST_POSTGRES_URL`` and get a database of
their own, created for the test and dropped after it. ``make test`` runs pytest through
``tests/servers.py``, which provisions a private server when that one does not answer. An
unreachable server fails the test with a message saying how to get one; it never turns
into a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql
from sqlalchemy.engine import make_url

# Properties are checked for what they compute, never for how long an example takes: a
# machine busy with other work must not fail them.
settings.register_profile("xdm-connector", deadline=None)
settings.load_profile("xdm-connector")

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _server_url() -> str:
    return os.environ.get("XDMC_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


def _libpq_conninfo(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server for the tests; fails loudly when it cannot be reached."""
    url = _server_url()
    try:
        with psycopg.connect(_libpq_conninfo(url), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is unreachable at {where} ({exc}). Start it, set "
            "XDMC_TEST_POSTGRES_URL, or run pytest as `python -m tests.servers pytest ...` "
            "(what make test does), which provisions a private server.",
            pytrace=False,
        )
    return url


@contextmanager
def _new_database(server_url: str) -> Iterator[str]:
    name = f"xdmc_test_{uuid.uuid4().hex[:12]}"
    admin = _libpq_conninfo(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    with _new_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def postgres_source_url(postgres_server_url: str) -> Iterator[str]:
    """Another new, empty database, for a source beside a store on ``postgres_url``: a
    source is never the store's own database."""
    with _new_database(postgres_server_url) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for a PostgreSQL database with ``postgres``."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "postgres_url" in fixtures or "postgres_server_url" in fixtures:
            item.add_marker(pytest.mark.postgres)
