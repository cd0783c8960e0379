"""MySQL's and MariaDB's own traps, read by the product: its URLs, the pages of the fast
reader, zero dates, time zones, fractional seconds, booleans, utf8mb4 text and
case-insensitive keys."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from xdm_connector.errors import SourceError, SourceRefused
from xdm_connector.pipeline.shaping import UNREADABLE_REASON, RecordShaper
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.mysql import connectorx_uri, read_mysql
from xdm_connector.sources.product_data import ProductData
from xdm_connector.sources.schema import describe_resource
from xdm_connector.sources.statements import UNREADABLE_PREFIX
from xdm_connector.sources.urls import check_source_url
from xdm_connector.xdm.fields import XdmField, XdmType

pytestmark = pytest.mark.mysql
ELSEWHERE = ProductData.of_store("sqlite://")


def execute(url: str, *statements: str, parameters: list[dict[str, Any]] | None = None) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def read(
    url: str, query: sa.Select[Any], batch_rows: int = 1000, *, fast: bool = True
) -> list[pa.RecordBatch]:
    with SourceDatabase(url, ELSEWHERE, use_adbc=fast) as source:
        return list(source.read_batches(query, batch_rows=batch_rows))


def reflect(url: str, name: str) -> sa.Table:
    engine = sa.create_engine(url)
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["connectorx", "pymysql"])
def fast(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "connectorx")


def test_mysql_and_mariadb_urls_need_no_driver_name(mysql_url: str) -> None:
    execute(mysql_url, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
    table = reflect(mysql_url, "t")
    for scheme in ("mysql://", "mariadb://"):
        url = mysql_url.replace("mysql+pymysql://", scheme, 1)
        [batch] = read(url, sa.select(table.c.id))
        assert batch.column("id").to_pylist() == [1, 2]


def test_a_password_in_clear_is_refused_and_never_shown() -> None:
    for url in ("mysql://crm:s3cret-Pw@127.0.0.1/crm", "mariadb://crm:s3cret-Pw@db/crm"):
        with pytest.raises(SourceRefused) as refused:
            check_source_url(url)
        assert "s3cret-Pw" not in str(refused.value)
    check_source_url("mysql://crm:${CRM_PASSWORD}@127.0.0.1/crm")


def test_pages_of_the_key_read_every_row_once_in_bounded_batches(
    mysql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    execute(
        mysql_url,
        "CREATE TABLE city (id INT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE person (id BIGINT PRIMARY KEY, city_id INT, name VARCHAR(20), "
        "FOREIGN KEY (city_id) REFERENCES city (id))",
        "INSERT INTO city VALUES (1, 'Paris'), (2, 'Lyon')",
        "INSERT INTO person SELECT seq * 3, 1 + MOD(seq, 2), CONCAT('p', seq) FROM seq_1_to_2500",
    )
    person, city = reflect(mysql_url, "person"), reflect(mysql_url, "city")
    query = sa.select(person.c.id, person.c.name, city.c.name.label("city")).select_from(
        person.outerjoin(city, person.c.city_id == city.c.id)
    )
    with caplog.at_level(logging.DEBUG, "xdm_connector.sources"):
        batches = read(mysql_url, query.where(person.c.name != "p7"), batch_rows=100)
    assert "through ConnectorX" in caplog.text
    assert max(batch.num_rows for batch in batches) == 100
    ids = [row["id"] for batch in batches for row in batch.to_pylist()]
    assert sorted(ids) == [seq * 3 for seq in range(1, 2501) if seq != 7]
    assert len(set(ids)) == len(ids)


def read_ranges(
    url: str, query: sa.Select[Any], batch_rows: int, *, after_bounds: str | None = None
) -> list[list[dict[str, Any]]]:
    """The rows of each range a first export's scan reads side by side, range by range;
    ``after_bounds`` runs once the key's bounds are known, before any range is read."""
    engine = sa.create_engine(url)

    def first_row(bounds: Any) -> tuple[Any, ...] | None:
        with engine.connect() as conn:
            row = conn.execute(bounds).first()
        if after_bounds is not None:
            execute(url, after_bounds)
        return None if row is None else tuple(row)

    schema = pa.schema([pa.field(column.name, pa.int64()) for column in query.selected_columns])
    try:
        readers = read_mysql(
            connectorx_uri(sa.make_url(url)), query, schema, batch_rows,
            connect=engine.connect, scan=True, first_row=first_row,
        )  # fmt: skip
        return [[row for batch in reader for row in batch.to_pylist()] for reader in readers]
    finally:
        engine.dispose()


def test_a_scan_reads_an_integer_key_in_ranges_side_by_side_every_row_once(
    mysql_url: str,
) -> None:
    execute(
        mysql_url,
        "CREATE TABLE person (id BIGINT PRIMARY KEY, n INT)",
        "INSERT INTO person SELECT seq * 3, seq FROM seq_1_to_2500",
    )
    person = reflect(mysql_url, "person")
    query = sa.select(person.c.id, person.c.n).where(person.c.n != 7)
    with SourceDatabase(mysql_url, ELSEWHERE) as source:
        batches = list(source.read_batches(query, batch_rows=100, scan=True))
    ids = [row["id"] for batch in batches for row in batch.to_pylist()]
    assert sorted(ids) == [seq * 3 for seq in range(1, 2501) if seq != 7]
    assert max(batch.num_rows for batch in batches) == 100

    ranges = read_ranges(mysql_url, query, 100)
    assert len(ranges) == min(2, len(os.sched_getaffinity(0)))
    keys = [[row["id"] for row in part] for part in ranges]
    # Each range in key order, each above the one before: no key read twice.
    assert all(part == sorted(part) for part in keys)
    assert all(a[-1] < b[0] for a, b in itertools.pairwise(keys))
    assert sorted(key for part in keys for key in part) == sorted(ids)


def test_a_scan_reads_the_keys_written_beyond_its_bounds(mysql_url: str) -> None:
    execute(
        mysql_url,
        "CREATE TABLE person (id BIGINT PRIMARY KEY, n INT)",
        "INSERT INTO person SELECT seq, seq FROM seq_100_to_900",
    )
    person = reflect(mysql_url, "person")
    ranges = read_ranges(
        mysql_url,
        sa.select(person.c.id, person.c.n),
        50,
        after_bounds="INSERT INTO person VALUES (-5, 0), (7, 0), (5000, 0)",
    )
    ids = sorted(row["id"] for part in ranges for row in part)
    assert ids == [-5, 7, *range(100, 901), 5000]


def test_a_scan_of_a_text_key_or_an_empty_table_reads_one_range(mysql_url: str) -> None:
    execute(
        mysql_url,
        "CREATE TABLE tag (code VARCHAR(10) PRIMARY KEY, n INT)",
        "INSERT INTO tag SELECT CONCAT('t', seq), seq FROM seq_1_to_300",
        "CREATE TABLE nothing (id INT PRIMARY KEY, n INT)",
    )
    tag, nothing = reflect(mysql_url, "tag"), reflect(mysql_url, "nothing")
    [part] = read_ranges(mysql_url, sa.select(tag.c.n), 40)
    assert sorted(row["n"] for row in part) == list(range(1, 301))
    assert read_ranges(mysql_url, sa.select(nothing.c.id, nothing.c.n), 40) == [[]]


def test_string_keys_in_a_case_insensitive_collation_are_paged_whole(mysql_url: str) -> None:
    execute(
        mysql_url,
        "CREATE TABLE tag (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, n INT)",
        "INSERT INTO tag SELECT CONCAT(IF(MOD(seq, 2), 'a', 'B'), seq), seq FROM seq_1_to_999",
    )
    tag = reflect(mysql_url, "tag")
    batches = read(mysql_url, sa.select(tag.c.code, tag.c.n), batch_rows=10)
    codes = [code for batch in batches for code in batch.column("code").to_pylist()]
    assert sorted(codes) == sorted(f"{'a' if n % 2 else 'B'}{n}" for n in range(1, 1000))


def test_values_are_written_as_literals_no_text_can_change(mysql_url: str, fast: bool) -> None:
    execute(
        mysql_url,
        "CREATE TABLE note (id INT PRIMARY KEY, body VARCHAR(40)) CHARACTER SET utf8mb4",
    )
    bodies = ["it's", "back\\slash", "😀 émoji", "x' OR '1'='1", "-- comment", ""]
    engine = sa.create_engine(mysql_url)
    note = reflect(mysql_url, "note")
    with engine.begin() as conn:
        conn.execute(note.insert(), [{"id": i, "body": b} for i, b in enumerate(bodies)])
    engine.dispose()
    for body in bodies:
        [batch] = read(mysql_url, sa.select(note.c.id, note.c.body).where(note.c.body == body))
        assert batch.column("body").to_pylist() == [body]


def test_zero_dates_are_read_as_null_with_their_text(mysql_url: str, fast: bool) -> None:
    execute(
        mysql_url,
        "SET SESSION sql_mode = ''",
        "CREATE TABLE event (id INT PRIMARY KEY, day DATE, at DATETIME)",
        "INSERT INTO event VALUES (1, '2024-02-29', '2024-02-29 10:00:00'), "
        "(2, '0000-00-00', '0000-00-00 00:00:00'), (3, '2024-05-00', NULL), (4, NULL, NULL)",
    )
    event = reflect(mysql_url, "event")
    [batch] = read(mysql_url, sa.select(event).order_by(event.c.id), fast=fast)
    assert batch.column("day").to_pylist() == [dt.date(2024, 2, 29), None, None, None]
    assert batch.column(UNREADABLE_PREFIX + "day").to_pylist() == [
        None,
        "0000-00-00",
        "2024-05-00",
        None,
    ]
    assert batch.column(UNREADABLE_PREFIX + "at").to_pylist() == [
        None,
        "0000-00-00 00:00:00",
        None,
        None,
    ]
    # A batch without any zero date has no such column.
    [clean] = read(mysql_url, sa.select(event).where(event.c.id == 1), fast=fast)
    assert clean.schema.names == ["id", "day", "at"]


def test_a_zero_date_rejects_its_row_with_the_reason(mysql_url: str) -> None:
    execute(
        mysql_url,
        "SET SESSION sql_mode = ''",
        "CREATE TABLE event (id INT PRIMARY KEY, day DATE)",
        "INSERT INTO event VALUES (1, '2024-02-29'), (2, '0000-00-00')",
    )
    event = reflect(mysql_url, "event")
    [batch] = read(mysql_url, sa.select(event.c.day.label("c0")).order_by(event.c.id))
    day = XdmField("/day", "day", XdmType.DATE)
    root = XdmField("", "root", XdmType.OBJECT, children={"day": day})
    shaped = RecordShaper(root, {"/day": "c0"}).shape(batch)
    assert shaped.rejected.to_pylist() == [False, True]
    [problem] = shaped.problems
    assert (problem.row, problem.path, problem.value, problem.reason) == (
        1,
        "/day",
        "0000-00-00",
        UNREADABLE_REASON,
    )


def test_timestamps_are_read_in_utc_and_datetimes_as_written(mysql_url: str, fast: bool) -> None:
    execute(
        mysql_url,
        "CREATE TABLE stamp (id INT PRIMARY KEY, at TIMESTAMP(6) NULL, local DATETIME(3), "
        "whole DATETIME)",
        # Written by a session two hours east of UTC: TIMESTAMP stores the instant.
        "SET time_zone = '+02:00'",
        "INSERT INTO stamp VALUES (1, '2024-01-01 12:00:00.123456', "
        "'2024-01-01 12:00:00.5', '2024-01-01 12:00:00.7')",
    )
    stamp = reflect(mysql_url, "stamp")
    [batch] = read(mysql_url, sa.select(stamp), fast=fast)
    [row] = batch.to_pylist()
    assert row["at"] == dt.datetime(2024, 1, 1, 10, 0, 0, 123456)
    assert row["local"] == dt.datetime(2024, 1, 1, 12, 0, 0, 500000)
    # DATETIME keeps whole seconds: MariaDB drops the digits it does not keep.
    assert row["whole"] == dt.datetime(2024, 1, 1, 12, 0, 0)
    # A bound compares in UTC too.
    after = read(mysql_url, sa.select(stamp.c.id).where(stamp.c.at > dt.datetime(2024, 1, 1, 11)))
    assert after == []


def test_every_reader_runs_its_statements_in_utc(mysql_url: str, fast: bool) -> None:
    # This server's sessions start in its system zone (SYSTEM): the readers set their own.
    execute(mysql_url, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    table = reflect(mysql_url, "t")
    zone = sa.literal_column("@@session.time_zone", sa.String()).label("zone")

    [batch] = read(mysql_url, sa.select(table.c.id, zone), fast=fast)

    assert batch.column("zone").to_pylist() == ["+00:00"]


def test_tinyint_1_is_a_boolean(mysql_url: str, fast: bool) -> None:
    execute(
        mysql_url,
        "CREATE TABLE flag (id INT PRIMARY KEY, on_list BOOLEAN, level TINYINT)",
        "INSERT INTO flag VALUES (1, TRUE, 5), (2, FALSE, 0), (3, NULL, NULL)",
    )
    engine = sa.create_engine(mysql_url)
    try:
        resource = describe_resource(engine, "flag")
    finally:
        engine.dispose()
    assert isinstance(resource.table.c.on_list.type, sa.Boolean)
    assert not isinstance(resource.table.c.level.type, sa.Boolean)
    [batch] = read(mysql_url, sa.select(resource.table).order_by(resource.table.c.id), fast=fast)
    assert batch.column("on_list").type == pa.bool_()
    assert batch.column("on_list").to_pylist() == [True, False, None]
    assert batch.column("level").to_pylist() == [5, 0, None]


def test_an_unreachable_server_is_a_transient_source_error(mysql_url: str) -> None:
    table = sa.table("t", sa.column("id", sa.Integer))
    with pytest.raises(SourceError) as failed:
        read("mysql://root@127.0.0.1:1/test", sa.select(table.c.id))
    assert failed.value.transient
