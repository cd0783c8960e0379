"""Fixtures shared by every test layer.

PostgreSQL tests use the server named by ``XDMC_TEST_POSTGRES_URL``, MariaDB (MySQL) tests
the one named by ``XDMC_TEST_MYSQL_URL``; each test gets a database of its own, created for
the test and dropped after it (both servers create one in milliseconds; a PostgreSQL drop
waits for a checkpoint, so it runs in the background, and the session ends once every
drop has). A test that needs a metadata store on PostgreSQL asks for
``postgres_store_url``: a copy of a database the session migrated once, as the store's
``upgrade`` leaves it. ``make test`` runs pytest through
``tests/servers.py``, which provisions a private server when that one does not answer. An
unreachable server fails the test with a message saying how to get one; it never turns
into a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pymysql
import pytest
from hypothesis import settings
from psycopg import sql
from sqlalchemy.engine import make_url

# Properties are checked for what they compute, never for how long an example takes: a
# machine busy with other work must not fail them.
settings.register_profile("xdm-connector", deadline=None)
settings.load_profile("xdm-connector")

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"


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


class DatabaseDrops:
    """The PostgreSQL databases of the tests, dropped one after the other in a thread of
    their own: a drop waits for the server's checkpoint, which need not hold up the next
    test."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database-drops")
        self._drops: list[Future[None]] = []

    def drop(self, server_url: str, name: str) -> None:
        self._drops.append(self._thread.submit(_drop_database, server_url, name))

    def finish(self) -> None:
        """Wait for every drop; raises the first that failed."""
        self._thread.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(_libpq_conninfo(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_drops() -> Iterator[DatabaseDrops]:
    """The session's database drops; it ends once every one has succeeded."""
    drops = DatabaseDrops()
    yield drops
    drops.finish()


@contextmanager
def _new_database(
    server_url: str, drops: DatabaseDrops, template: str | None = None
) -> Iterator[str]:
    """A new database (a copy of ``template``, else empty), dropped after: its URL."""
    name = f"xdmc_test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(_libpq_conninfo(server_url), autocommit=True) as conn:
        conn.execute(create)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        drops.drop(server_url, name)


@pytest.fixture
def postgres_url(postgres_server_url: str, database_drops: DatabaseDrops) -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    with _new_database(postgres_server_url, database_drops) as url:
        yield url


@pytest.fixture
def postgres_source_url(postgres_server_url: str, database_drops: DatabaseDrops) -> Iterator[str]:
    """Another new, empty database, for a source beside a store on ``postgres_url``: a
    source is never the store's own database."""
    with _new_database(postgres_server_url, database_drops) as url:
        yield url


@pytest.fixture(scope="session")
def _migrated_store_template(
    postgres_server_url: str, database_drops: DatabaseDrops
) -> Iterator[str]:
    """A database of this session (and xdist process) holding the metadata store's schema,
    migrated once by ``Store.upgrade``, with no connection left open on it: the template
    of ``postgres_store_url``."""
    from xdm_connector.store.store import Store

    with _new_database(postgres_server_url, database_drops) as url:
        store = Store(url)
        try:
            store.upgrade()
        finally:
            store.close()
        yield str(make_url(url).database)


@pytest.fixture
def postgres_store_url(
    postgres_server_url: str, database_drops: DatabaseDrops, _migrated_store_template: str
) -> Iterator[str]:
    """A SQLAlchemy URL of a new PostgreSQL database that holds the metadata store's schema
    at its latest revision (a copy of the session's migrated one), dropped after the test."""
    with _new_database(postgres_server_url, database_drops, _migrated_store_template) as url:
        yield url


def _mysql_connect(url: str, database: str | None = None) -> pymysql.Connection[Any]:
    parsed = make_url(url)
    return pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=str(parsed.password or ""),
        database=database,
        autocommit=True,
        connect_timeout=5,
        charset="utf8mb4",
    )


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    """The MariaDB (or MySQL) server for the tests; fails loudly when it cannot be reached."""
    url = os.environ.get("XDMC_TEST_MYSQL_URL", DEFAULT_TEST_MYSQL_URL)
    try:
        _mysql_connect(url).close()
    except pymysql.err.OperationalError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"MariaDB is unreachable at {where} ({exc}). Start it, set XDMC_TEST_MYSQL_URL, "
            "or run pytest as `python -m tests.servers pytest ...` (what make test does), "
            "which provisions a private server.",
            pytrace=False,
        )
    return url


@contextmanager
def new_mysql_database(server_url: str) -> Iterator[str]:
    """A new, empty utf8mb4 database on the server, dropped after: its SQLAlchemy URL, with
    the driver named (``mysql+pymysql://``) for the tests' own engines."""
    name = f"xdmc_test_{uuid.uuid4().hex[:12]}"
    with _mysql_connect(server_url) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        url = make_url(server_url).set(drivername="mysql+pymysql", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with _mysql_connect(server_url) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mysql_url(mysql_server_url: str) -> Iterator[str]:
    """A SQLAlchemy URL (``mysql+pymysql://``) of a new, empty MariaDB database, dropped
    after."""
    with new_mysql_database(mysql_server_url) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for a PostgreSQL database with ``postgres``, a MariaDB one
    with ``mysql``."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if {"postgres_url", "postgres_server_url", "postgres_store_url"} & set(fixtures):
            item.add_marker(pytest.mark.postgres)
        if "mysql_url" in fixtures or "mysql_server_url" in fixtures:
            item.add_marker(pytest.mark.mysql)
