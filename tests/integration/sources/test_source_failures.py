"""How a read fails on real SQLite files and PostgreSQL servers: busy, locked or cut off
(transient, read again by the job), or wrong in what it asks (not transient)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tests.integration.sources.sqlite_writer import LockingWriter
from tests.integration.store.test_requests import terminate_backends
from xdm_connector.errors import SourceError
from xdm_connector.sources import postgresql, sqlite
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData

ROWS = 60_000

ELSEWHERE = ProductData.of_store("sqlite://")
"""The connector's own data, none of which these sources are."""


def _profile(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "profile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone", sa.String(200)),
    )


def _fill(url: str, rows: int) -> sa.Table:
    metadata = sa.MetaData()
    table = _profile(metadata)
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            values = [{"id": key, "phone": f"{key:0>12}" * 12} for key in range(1, rows + 1)]
            for start in range(0, rows, 20_000):
                connection.execute(table.insert(), values[start : start + 20_000])
    finally:
        engine.dispose()
    return table


def _read_all(url: str, query: sa.Select[Any], use_adbc: bool) -> int:
    with SourceDatabase(url, ELSEWHERE, use_adbc=use_adbc) as source:
        return sum(batch.num_rows for batch in source.read_batches(query, batch_rows=1_000))


def _failure(url: str, query: sa.Select[Any], *, use_adbc: bool = True) -> SourceError:
    with pytest.raises(SourceError) as raised:
        _read_all(url, query, use_adbc)
    return raised.value


def test_a_locked_sqlite_file_is_waited_for_then_fails_as_transient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "source.db"
    table = _fill(f"sqlite:///{path}", 10)
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_MS", 300)

    with LockingWriter(path) as writer:
        writer.lock()
        started = time.monotonic()
        error = _failure(f"sqlite:///{path}", sa.select(table))
        waited = time.monotonic() - started
        writer.commit()
        assert _read_all(f"sqlite:///{path}", sa.select(table), use_adbc=True) == 10

    assert error.transient
    assert "database is locked" in error.message
    assert waited >= 0.3  # the busy timeout: SQLite waited for the lock before saying busy


@pytest.mark.postgres
@pytest.mark.parametrize("use_adbc", [True, False], ids=["adbc", "sqlalchemy"])
def test_a_postgresql_connection_terminated_mid_read_fails_as_transient(
    postgres_url: str, use_adbc: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _fill(postgres_url, ROWS)
    # Small driver batches: the server is still sending when the first one is read.
    monkeypatch.setattr(postgresql, "BATCH_BYTES", 64 * 1024)
    read: list[pa.RecordBatch] = []

    def read_terminating_after_the_first_batch() -> None:
        with SourceDatabase(postgres_url, ELSEWHERE, use_adbc=use_adbc) as source:
            for batch in source.read_batches(sa.select(table), batch_rows=1_000):
                if not read:
                    assert terminate_backends(postgres_url) >= 1
                read.append(batch)

    with pytest.raises(SourceError) as raised:
        read_terminating_after_the_first_batch()

    assert raised.value.transient, raised.value.message
    assert 0 < sum(batch.num_rows for batch in read) < ROWS


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_errors_of_what_was_asked_are_not_transient(database_url: str) -> None:
    table = _fill(database_url, 10)
    missing_table = sa.select(sa.table("nowhere", sa.column("id")))
    missing_column = sa.select(sa.column("nothing")).select_from(table)
    bad_sql = sa.select(sa.literal_column("1 +").label("broken"))
    for query in (missing_table, missing_column, bad_sql):
        for use_adbc in (True, False):
            error = _failure(database_url, query, use_adbc=use_adbc)
            assert not error.transient, error.message


@pytest.mark.postgres
def test_a_refused_role_is_not_transient_and_a_refused_connection_is(postgres_url: str) -> None:
    nobody = sa.make_url(postgres_url).set(username="nobody_at_all")
    down = sa.make_url(postgres_url).set(port=1)
    query = sa.select(sa.literal(1).label("one"))
    for use_adbc in (True, False):
        refused = _failure(nobody.render_as_string(hide_password=False), query, use_adbc=use_adbc)
        assert not refused.transient, refused.message
        unreachable = _failure(down.render_as_string(hide_password=False), query, use_adbc=use_adbc)
        assert unreachable.transient, unreachable.message


def test_a_missing_sqlite_file_is_not_transient(tmp_path: Path) -> None:
    error = _failure(f"sqlite:///{tmp_path / 'source.db'}", sa.select(sa.literal(1).label("one")))
    assert not error.transient
