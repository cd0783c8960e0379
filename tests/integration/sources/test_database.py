"""Reading real SQLite files, PostgreSQL and MariaDB databases as Arrow batches."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from xdm_connector.errors import InvalidInput, SourceError
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.postgresql import copy_statement
from xdm_connector.sources.product_data import ProductData
from xdm_connector.sources.sqlite import read_sqlite
from xdm_connector.sources.statements import (
    constant_columns,
    dollar_dialect,
    portable_statement,
    sqlite_dialect,
)

UTC = dt.UTC
ELSEWHERE = ProductData.of_store("sqlite://")
"""The data of a connector whose store is in memory: any file may be a source."""
EXPECTED_TYPES = {
    "id": pa.int64(),
    "name": pa.string(),
    "score": pa.float64(),
    "visits": pa.int64(),
    "birth": pa.date32(),
    "vip": pa.bool_(),
    "modified": pa.timestamp("us"),
}


def sample_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "sample",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("score", sa.Float),
        sa.Column("visits", sa.Integer),
        sa.Column("birth", sa.Date),
        sa.Column("vip", sa.Boolean),
        # MySQL's DATETIME keeps whole seconds unless given a fraction's digits.
        sa.Column("modified", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")),
    )


def sample_rows(count: int, *, null_until: int = 0) -> list[dict[str, Any]]:
    """Rows whose ``name``, ``score``, ``birth`` are NULL for ids below ``null_until``; ``score``
    mixes whole and fractional values."""
    start = dt.datetime(2024, 1, 1, 0, 0, 0, 250)
    return [
        {
            "id": i,
            "name": None if i < null_until else f"name-{i}",
            "score": None if i < null_until else (float(i) if i % 2 else i + 0.5),
            "visits": None if i % 7 == 0 else i * 3,
            "birth": None if i < null_until else dt.date(1990, 1, 1) + dt.timedelta(days=i % 9000),
            "vip": i % 3 == 0,
            "modified": start + dt.timedelta(seconds=i),
        }
        for i in range(1, count + 1)
    ]


def fill(url: str, rows: list[dict[str, Any]]) -> sa.Table:
    metadata = sa.MetaData()
    table = sample_table(metadata)
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for start in range(0, len(rows), 20_000):
                conn.execute(table.insert(), rows[start : start + 20_000])
    finally:
        engine.dispose()
    return table


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'source.db'}"


@pytest.fixture(params=["adbc", "sqlalchemy"])
def use_adbc(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "adbc")


@pytest.fixture(params=["sqlite", "postgresql", pytest.param("mysql", marks=pytest.mark.mysql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, a fresh PostgreSQL database or a fresh MariaDB database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}"
    elif request.param == "mysql":
        yield request.getfixturevalue("mysql_url")
    else:
        yield request.getfixturevalue("postgres_url")


def read(
    url: str, query: sa.Select[Any], batch_rows: int, use_adbc: bool = True
) -> list[pa.RecordBatch]:
    with SourceDatabase(url, ELSEWHERE, use_adbc=use_adbc) as source:
        return list(source.read_batches(query, batch_rows=batch_rows))


def test_types_and_values_follow_the_statement(database_url: str, use_adbc: bool) -> None:
    table = fill(database_url, sample_rows(10))
    batches = read(database_url, sa.select(table).order_by(table.c.id), 100, use_adbc)
    [batch] = batches
    assert dict(zip(batch.schema.names, batch.schema.types, strict=True)) == EXPECTED_TYPES
    assert batch.to_pylist() == sample_rows(10)


def test_columns_null_in_the_whole_first_batch(database_url: str, use_adbc: bool) -> None:
    rows = sample_rows(3000, null_until=2500)
    table = fill(database_url, rows)
    batches = read(database_url, sa.select(table).order_by(table.c.id), 1000, use_adbc)
    assert [b.num_rows for b in batches] == [1000, 1000, 1000]
    assert all(b.schema.types == list(EXPECTED_TYPES.values()) for b in batches)
    assert [row for b in batches for row in b.to_pylist()] == rows


def test_parameters_expressions_and_labels(database_url: str, use_adbc: bool) -> None:
    table = fill(database_url, sample_rows(50))
    query = (
        sa.select(
            table.c.id.label("key"),
            sa.func.lower(table.c.name).label("lower_name"),
            (table.c.visits > 30).label("frequent"),
            sa.literal("x'y").label("constant"),
            sa.cast(table.c.score * 2, sa.Numeric(10, 2)).label("double_score"),
        )
        .where(
            table.c.modified >= dt.datetime(2024, 1, 1, 0, 0, 10),
            table.c.birth > dt.date(1990, 1, 1),
            table.c.id.in_([11, 12, 14, 40]) | (table.c.name == "name-49"),
        )
        .order_by(table.c.id.desc())
    )
    [batch] = read(database_url, query, 10, use_adbc)
    assert batch.schema.types == [pa.int64(), pa.string(), pa.bool_(), pa.string(), pa.float64()]
    assert batch.schema.names == ["key", "lower_name", "frequent", "constant", "double_score"]
    assert [tuple(row.values()) for row in batch.to_pylist()] == [
        (49, "name-49", None, "x'y", 98.0),
        (40, "name-40", True, "x'y", 81.0),
        (14, "name-14", None, "x'y", 29.0),
        (12, "name-12", True, "x'y", 25.0),
        (11, "name-11", True, "x'y", 22.0),
    ]


def test_a_column_selected_twice_is_read_once_and_given_twice(
    database_url: str, use_adbc: bool
) -> None:
    table = fill(database_url, sample_rows(20))
    query = sa.select(
        table.c.name.label("a"),
        table.c.id.label("key"),
        table.c.name.label("b"),
        sa.literal("x").label("c"),
        sa.literal("y").label("d"),
    ).order_by(table.c.id)
    [batch] = read(database_url, query, 100, use_adbc)
    assert batch.schema.names == ["a", "key", "b", "c", "d"]
    assert batch.column("a") == batch.column("b")
    assert set(batch.column("c").to_pylist()) == {"x"}
    assert set(batch.column("d").to_pylist()) == {"y"}


def test_constant_columns_are_repeated_not_read(database_url: str, use_adbc: bool) -> None:
    table = fill(database_url, sample_rows(30))
    constants = {"yes": True, "no": False, "seven": 7, "half": 0.5, "text": "ambiguous"}
    # As the compiler types them: ``type_coerce`` around the bound value, sometimes.
    typed = {"yes": sa.Boolean(), "text": sa.String()}
    query = sa.select(
        table.c.id,
        *(
            (
                sa.type_coerce(sa.literal(value), typed[name])
                if name in typed
                else sa.literal(value)
            ).label(name)
            for name, value in constants.items()
        ),
    ).where(table.c.id > sa.literal(10))
    sent, repeated = constant_columns(query)
    assert repeated == constants
    assert [column.key for column in sent.selected_columns] == ["id"]

    batches = read(database_url, query.order_by(table.c.id), 8, use_adbc)
    assert [batch.num_rows for batch in batches] == [8, 8, 4]
    rows = [row for batch in batches for row in batch.to_pylist()]
    assert rows == [{"id": i, **constants} for i in range(11, 31)]
    expected = {"yes": pa.bool_(), "seven": pa.int64(), "half": pa.float64(), "text": pa.string()}
    assert {name: batches[0].schema.field(name).type for name in expected} == expected


def test_a_query_of_constants_only_is_read_whole(database_url: str) -> None:
    fill(database_url, sample_rows(1))
    query = sa.select(sa.literal(1).label("one"), sa.literal("a").label("a"))
    assert constant_columns(query) == (query, {})
    [batch] = read(database_url, query, 10)
    assert batch.to_pylist() == [{"one": 1, "a": "a"}]


def test_a_large_table_streams_in_batches_of_the_asked_size(database_url: str) -> None:
    rows = sample_rows(200_000)
    table = fill(database_url, rows)
    total, sizes, last_id = 0, [], 0
    with SourceDatabase(database_url, ELSEWHERE) as source:
        query = sa.select(table.c.id, table.c.name).order_by(table.c.id)
        for batch in source.read_batches(query, batch_rows=30_000):
            sizes.append(batch.num_rows)
            ids = batch.column("id")
            assert ids[0].as_py() == last_id + 1
            last_id = ids[-1].as_py()
            total += batch.num_rows
    assert total == 200_000
    assert sizes == [30_000] * 6 + [20_000]


def test_an_empty_result_gives_no_batch(database_url: str, use_adbc: bool) -> None:
    table = fill(database_url, sample_rows(5))
    assert read(database_url, sa.select(table).where(table.c.id > 99), 10, use_adbc) == []


def test_a_reader_closed_early_releases_its_connection(database_url: str) -> None:
    table = fill(database_url, sample_rows(500))
    with SourceDatabase(database_url, ELSEWHERE) as source:
        batches = source.read_batches(sa.select(table), batch_rows=100)
        assert next(batches).num_rows == 100
        batches.close()
        assert source.scalar(sa.select(sa.func.count()).select_from(table)) == 500


def test_scalar_and_first_row(database_url: str) -> None:
    table = fill(database_url, sample_rows(5))
    with SourceDatabase(database_url, ELSEWHERE) as source:
        assert source.scalar(sa.select(sa.func.max(table.c.id))) == 5
        latest = sa.select(table.c.modified, table.c.id).order_by(table.c.id.desc())
        assert source.first_row(latest) == (dt.datetime(2024, 1, 1, 0, 0, 5, 250), 5)
        assert source.first_row(latest.where(table.c.id > 5)) is None


def test_columns_need_distinct_names(sqlite_url: str) -> None:
    table = fill(sqlite_url, sample_rows(1))
    query = sa.select(table.c.id, table.c.visits.label("id"))
    with (
        SourceDatabase(sqlite_url, ELSEWHERE) as source,
        pytest.raises(InvalidInput, match="distinct"),
    ):
        source.expected_schema(query)


def test_a_query_error_is_a_source_error(database_url: str) -> None:
    fill(database_url, sample_rows(1))
    missing = sa.table("missing", sa.column("id", sa.Integer))
    with SourceDatabase(database_url, ELSEWHERE) as source, pytest.raises(SourceError) as caught:
        list(source.read_batches(sa.select(missing.c.id), batch_rows=10))
    assert caught.value.code == "ACP-880056"
    assert str(caught.value).startswith("ACP-880056 Failed to fetch the record from the database.")
    assert not caught.value.transient


# -- SQLite specifics ---------------------------------------------------------------------------


def test_sqlite_mixed_storage_classes_in_a_real_column(sqlite_url: str, use_adbc: bool) -> None:
    table = fill(sqlite_url, [])
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as conn:
        rows: list[tuple[Any, ...]] = [(i, None, 2 if i % 2 else 2.5) for i in range(1, 2501)]
        rows += [(2501, 77, 3)]  # an integer in a text column, after the first batch
        conn.executemany("INSERT INTO sample (id, name, score) VALUES (?, ?, ?)", rows)
        conn.commit()
    query = sa.select(table.c.id, table.c.name, table.c.score).order_by(table.c.id)
    batches = read(sqlite_url, query, 1000, use_adbc)
    values = [row for batch in batches for row in batch.to_pylist()]
    assert values[0] == {"id": 1, "name": None, "score": 2.0}
    assert values[1] == {"id": 2, "name": None, "score": 2.5}
    assert values[-1] == {"id": 2501, "name": "77", "score": 3.0}


def test_sqlite_text_in_an_integer_column_is_a_source_error(
    sqlite_url: str, use_adbc: bool
) -> None:
    table = fill(sqlite_url, [])
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as conn:
        conn.executemany("INSERT INTO sample (id, visits) VALUES (?, ?)", [(1, 5), (2, "many")])
        conn.commit()
    with pytest.raises(SourceError, match="visits"):
        read(sqlite_url, sa.select(table.c.visits), 10, use_adbc)


def test_a_missing_sqlite_file_is_an_error_and_stays_missing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    query = sa.select(sa.column("id", sa.Integer)).select_from(sa.table("t"))
    for use_adbc in (True, False):
        with SourceDatabase(f"sqlite:///{path}", ELSEWHERE, use_adbc=use_adbc) as source:
            with pytest.raises(SourceError, match="does not exist") as caught:
                list(source.read_batches(query, batch_rows=10))
            assert caught.value.code == "ACP-880056"
            with pytest.raises(SourceError, match="does not exist"):
                source.scalar(query)
    assert not path.exists()


def test_a_sqlite_source_is_read_only(sqlite_url: str) -> None:
    table = fill(sqlite_url, sample_rows(1))
    with SourceDatabase(sqlite_url, ELSEWHERE) as source, pytest.raises(SourceError):
        source.scalar(table.delete())


def test_sqlite_in_memory_reads_through_sqlalchemy() -> None:
    with SourceDatabase("sqlite://", ELSEWHERE) as source:
        query = sa.select(sa.literal(1, sa.Integer).label("one"), sa.literal("a").label("a"))
        [batch] = list(source.read_batches(query, batch_rows=5))
    assert batch.to_pylist() == [{"one": 1, "a": "a"}]


def test_a_sqlite_scan_reads_every_row_once_in_ranges(sqlite_url: str) -> None:
    rows = sample_rows(5000, null_until=3000)  # the first range starts with NULL columns
    table = fill(sqlite_url, rows)
    query = sa.select(table).where(table.c.id > 10)
    with SourceDatabase(sqlite_url, ELSEWHERE) as source:
        batches = list(source.read_batches(query, batch_rows=1000, scan=True))
    read_rows = sorted((row for b in batches for row in b.to_pylist()), key=lambda r: r["id"])
    assert read_rows == [row for row in rows if row["id"] > 10]
    assert all(b.schema.types == list(EXPECTED_TYPES.values()) for b in batches)
    assert all(b.num_rows <= 1000 for b in batches)
    assert sum(b.num_rows < 1000 for b in batches) <= 2  # the last of each range


def test_a_sqlite_scan_finds_its_rowid_range_without_scanning(sqlite_url: str) -> None:
    table = fill(sqlite_url, sample_rows(400))
    path = sqlite_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE INDEX sample_name ON sample (name)")  # one SQLite would scan
    plans: list[str] = []

    def first_row(query: Any) -> tuple[Any, ...] | None:
        sql = str(query.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}))
        with closing(sqlite3.connect(path)) as conn:
            plans.extend(step[3] for step in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            return tuple(conn.execute(sql).fetchone())

    schema = pa.schema([pa.field("id", pa.int64())])
    query = sa.select(table.c.id)
    readers = read_sqlite(
        Path(path), query, schema, 100, scan=True, first_row=first_row, connecting=nullcontext
    )
    assert readers is not None
    assert len(readers) == min(2, len(os.sched_getaffinity(0)))
    assert plans
    assert not [step for step in plans if step.startswith("SCAN sample")], plans
    ids = sorted(row["id"] for reader in readers for batch in reader for row in batch.to_pylist())
    assert ids == list(range(1, 401))


def test_a_sqlite_scan_of_a_view_reads_it_whole(sqlite_url: str) -> None:
    rows = sample_rows(300)
    fill(sqlite_url, rows)
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as conn:
        conn.execute("CREATE VIEW recent AS SELECT id, name FROM sample WHERE id >= 100")
    view = sa.table("recent", sa.column("id", sa.Integer), sa.column("name", sa.String))
    with SourceDatabase(sqlite_url, ELSEWHERE) as source:
        batches = list(source.read_batches(sa.select(view), batch_rows=64, scan=True))
    expected = [row["id"] for row in rows if row["id"] >= 100]
    assert sorted(row["id"] for b in batches for row in b.to_pylist()) == expected


def test_a_reader_closed_early_stops_every_range(sqlite_url: str) -> None:
    table = fill(sqlite_url, sample_rows(3000))
    with SourceDatabase(sqlite_url, ELSEWHERE) as source:
        batches = source.read_batches(sa.select(table), batch_rows=100, scan=True)
        assert next(batches).num_rows == 100
        batches.close()
        assert source.scalar(sa.select(sa.func.count()).select_from(table)) == 3000


# -- PostgreSQL specifics -----------------------------------------------------------------------


def test_postgresql_types(postgres_url: str, use_adbc: bool) -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "typed",
        metadata,
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("token", sa.Uuid),
        sa.Column("doc", sa.JSON(none_as_null=True)),
        sa.Column("big", sa.BigInteger),
    )
    token = uuid.UUID("12345678-1234-5678-1234-567812345678")
    engine = sa.create_engine(postgres_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": 1, "amount": None, "at": None, "token": None, "doc": None, "big": None},
                {
                    "id": 2,
                    "amount": Decimal("12.50"),
                    "at": dt.datetime(
                        2024, 1, 31, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))
                    ),
                    "token": token,
                    "doc": {"a": 1},
                    "big": 2**40,
                },
            ],
        )
    engine.dispose()
    [batch] = read(postgres_url, sa.select(table).order_by(table.c.id), 10, use_adbc)
    assert batch.schema.types == [
        pa.int64(),
        pa.float64(),
        pa.timestamp("us", tz="UTC"),
        pa.string(),
        pa.string(),
        pa.int64(),
    ]
    first, second = batch.to_pylist()
    assert first == dict.fromkeys(("amount", "at", "token", "doc", "big"), None) | {"id": 1}
    assert second["amount"] == 12.5
    assert second["at"] == dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)
    assert second["token"] == str(token)
    assert second["doc"].replace(" ", "") == '{"a":1}'


@pytest.mark.parametrize("use_adbc", [True, False])
def test_an_unreachable_server_is_a_transient_source_error_without_password(use_adbc: bool) -> None:
    url = "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:9/nowhere"
    query = sa.select(sa.literal(1).label("one"))
    with SourceDatabase(url, ELSEWHERE, use_adbc=use_adbc) as source:
        with pytest.raises(SourceError) as caught:
            list(source.read_batches(query, batch_rows=10))
        assert "s3cr3t-pw" not in repr(source)
    error = caught.value
    assert error.code == "ACP-880056"
    assert error.transient
    assert "s3cr3t-pw" not in str(error)
    assert "reader:***@127.0.0.1:9" in str(error)


def test_a_postgresql_read_takes_the_connection_opened_ahead(postgres_url: str) -> None:
    """``connect_ahead`` opens the read's connection while the caller plans: the read is
    served by a backend started before it, and a second read opens its own."""
    activity = sa.table("pg_stat_activity", sa.column("pid"), sa.column("backend_start"))
    started = (
        sa.select(activity.c.backend_start.label("started"))
        .where(activity.c.pid == sa.func.pg_backend_pid())
        .subquery()
    )
    backend = sa.select(sa.cast(started.c.started, sa.DateTime(timezone=True)).label("started"))
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with SourceDatabase(postgres_url, ELSEWHERE) as source:
        source.connect_ahead()
        time.sleep(1)  # the connection opened ahead (about 50 ms)
        with engine.connect() as conn:
            before = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        [first] = list(source.read_batches(backend, batch_rows=10))
        [second] = list(source.read_batches(backend, batch_rows=10))
    assert first.column("started")[0].as_py() < before
    assert second.column("started")[0].as_py() > before


def test_a_connection_opened_ahead_and_not_read_is_closed(postgres_url: str) -> None:
    name = f"xdmc_ahead_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(postgres_url).update_query_dict({"application_name": name})
    with SourceDatabase(url, ELSEWHERE) as source:
        source.connect_ahead()
        _backends(postgres_url, name, count=1)  # open, and never read
    assert _backends(postgres_url, name, count=0) == []


def test_a_connection_that_failed_ahead_fails_the_read_as_its_own_would() -> None:
    url = "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:9/nowhere"
    query = sa.select(sa.literal(1).label("one"))
    with SourceDatabase(url, ELSEWHERE) as source:
        source.connect_ahead()
        with pytest.raises(SourceError) as caught:
            list(source.read_batches(query, batch_rows=10))
    assert caught.value.code == "ACP-880056"
    assert caught.value.transient
    assert "s3cr3t-pw" not in str(caught.value)


def _backends(postgres_url: str, application: str, *, count: int) -> list[int]:
    """The pids of the backends of ``application`` once there are ``count`` of them."""
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    pids = sa.select(sa.column("pid", sa.Integer)).select_from(sa.table("pg_stat_activity"))
    pids = pids.where(sa.column("application_name") == application)
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            found = list(conn.execute(pids).scalars())
        if len(found) == count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} backends of {application}"
        time.sleep(0.05)


def test_a_wrong_password_is_not_echoed(postgres_server_url: str) -> None:
    url = sa.make_url(postgres_server_url).set(password="not-the-pw", database="absent_db_xdmc")
    query = sa.select(sa.literal(1).label("one"))
    for use_adbc in (True, False):
        with (
            SourceDatabase(url, ELSEWHERE, use_adbc=use_adbc) as source,
            pytest.raises(SourceError) as caught,
        ):
            list(source.read_batches(query, batch_rows=10))
        assert "not-the-pw" not in str(caught.value)
        assert not caught.value.transient  # a database that does not exist stays so


def test_postgresql_parameters_reach_copy_as_settings_or_typed_constants(
    postgres_url: str,
) -> None:
    table = fill(postgres_url, sample_rows(40))
    query = (
        sa.select(
            table.c.id,
            sa.func.concat(table.c.name, sa.literal("'; --")).label("tagged"),
        )
        .where(
            table.c.modified >= dt.datetime(2024, 1, 1, 0, 0, 10),
            table.c.birth > dt.date(1990, 1, 1),
            table.c.vip == sa.literal(True),
            table.c.score < 30.5,
            table.c.name != "it's",
        )
        .order_by(table.c.id)
    )
    statement = portable_statement(
        query,
        SourceDatabase(postgres_url, ELSEWHERE).expected_schema(query),
        numerics_as_doubles=True,
    )
    settled = copy_statement(statement)
    assert settled is not None
    sql = str(settled[0].compile(dialect=dollar_dialect()))
    # texts are settings, read back; numbers, booleans, dates and times typed constants
    assert settled[1] == ["'; --", "it's"]
    assert "'; --" not in sql
    assert "it's" not in sql
    assert "CAST('2024-01-01T00:00:10' AS TIMESTAMP WITHOUT TIME ZONE)" in sql
    assert "CAST('1990-01-01' AS DATE)" in sql
    assert "CAST('true' AS BOOLEAN)" in sql
    assert "CAST('30.5' AS DOUBLE PRECISION)" in sql
    batches = read(postgres_url, query, 4)
    assert [b.num_rows for b in batches] == [4, 2]
    assert [row["id"] for b in batches for row in b.to_pylist()] == [12, 15, 18, 21, 24, 27]
    assert batches[0].column("tagged")[0].as_py() == "name-12'; --"


def test_postgresql_typed_constants_keep_every_value(postgres_url: str) -> None:
    """Extreme numbers and zoned times read the same as typed constants."""
    values = {
        "big": 2**62,
        "negative": -(2**40),
        "tiny": 1e-300,
        "huge": -1.5e300,
        "infinite": float("inf"),
        "exact": Decimal("-12.5"),
        "zoned": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "false": False,
    }
    query = sa.select(*(sa.literal(value).label(name) for name, value in values.items()))
    query = query.where(sa.literal(1) == 1)  # a constant-only query is read whole
    settled = copy_statement(query)
    assert settled is not None
    assert settled[1] == []
    [batch] = read(postgres_url, query, 10)
    row = batch.to_pylist()[0]
    assert row["big"] == 2**62
    assert row["negative"] == -(2**40)
    assert row["tiny"] == 1e-300
    assert row["huge"] == -1.5e300
    assert row["infinite"] == float("inf")
    assert row["exact"] == -12.5
    assert row["zoned"] == dt.datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert row["false"] is False


def _work_memory(url: str | sa.URL, use_adbc: bool) -> str:
    query = sa.select(sa.func.current_setting("work_mem").label("work_mem"))
    with SourceDatabase(url, ELSEWHERE, use_adbc=use_adbc) as source:
        [batch] = list(source.read_batches(query, batch_rows=10))
    return str(batch.column("work_mem")[0].as_py())


def test_a_postgresql_read_has_at_least_its_work_memory_and_no_jit(postgres_url: str) -> None:
    assert _work_memory(postgres_url, use_adbc=True) == "64MB"
    jit = sa.select(sa.func.current_setting("jit").label("jit"))
    with SourceDatabase(postgres_url, ELSEWHERE) as source:
        [batch] = list(source.read_batches(jit, batch_rows=10))
    assert batch.column("jit")[0].as_py() == "off"
    # more than that, set for the source's connections, stays
    larger = sa.make_url(postgres_url).update_query_dict({"options": "-c work_mem=256MB"})
    assert _work_memory(larger, use_adbc=True) == "256MB"
    # a parameter read through a server-side cursor (a list for IN) gets it too
    listed = sa.select(sa.func.current_setting("work_mem").label("work_mem")).where(
        sa.literal(1).in_([1, 2])
    )
    with SourceDatabase(postgres_url, ELSEWHERE) as source:
        [batch] = list(source.read_batches(listed, batch_rows=10))
    assert batch.column("work_mem")[0].as_py() == "64MB"


def test_postgresql_derived_columns_equal_the_databases(postgres_url: str, use_adbc: bool) -> None:
    """Columns computed in Arrow (``sources/derived.py``) hold what PostgreSQL computes."""
    table = fill(postgres_url, sample_rows(30))
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:  # NULLs and negatives on the inputs
        conn.execute(table.update().where(table.c.id % 4 == 0).values(vip=None, visits=None))
        conn.execute(table.update().where(table.c.id % 5 == 0).values(id=-table.c.id))
    query = sa.select(
        table.c.id,
        sa.cast(table.c.id, sa.String()).label("text_id"),
        sa.case((sa.cast(table.c.vip, sa.Integer) == 0, "in"), else_="out").label("vip_flag"),
        sa.case((table.c.visits >= 30, 2), (table.c.visits > 0, 1)).label("visit_rank"),
    ).order_by(table.c.id)
    with engine.connect() as conn:
        computed = [row._asdict() for row in conn.execute(query)]
    engine.dispose()
    assert computed[2] == {"id": -20, "text_id": "-20", "vip_flag": "out", "visit_rank": None}
    rows = [row for batch in read(postgres_url, query, 7, use_adbc) for row in batch.to_pylist()]
    assert rows == computed
