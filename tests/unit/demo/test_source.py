"""The demo source: a deterministic SQLite database of Campaign-like profiles."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path

import pytest
import sqlalchemy as sa

from xdm_connector.demo.source import (
    QUALITY_CODES,
    SCHEMA,
    create_demo_source,
    insert_demo_rows,
    profile_rows,
)

PROFILE_COLUMNS = [
    "id", "email", "firstName", "middleName", "lastName", "birthDate", "gender", "mobilePhone",
    "phone", "blackList", "blackListEmail", "blackListMobile", "postalAddress_id", "created",
    "lastModified",
]  # fmt: skip
ADDRESS_COLUMNS = [
    "id", "line1", "line2", "city", "zipCode", "stateCode", "countryCode", "addrDefined",
    "addrQuality",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo-source.db"
    create_demo_source(path, profiles=2000)
    return path


@pytest.fixture
def conn(demo: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{demo}?mode=ro", uri=True)) as connection:
        yield connection


def count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def test_tables_columns_and_rows(conn: sqlite3.Connection) -> None:
    columns = [row[1] for row in conn.execute("PRAGMA table_info(profile)")]
    assert columns == PROFILE_COLUMNS
    assert [row[1] for row in conn.execute("PRAGMA table_info(postalAddress)")] == ADDRESS_COLUMNS
    assert count(conn, "SELECT count(*) FROM profile") == 2000
    assert 1800 < count(conn, "SELECT count(*) FROM postalAddress") < 2000
    orphans = (
        "SELECT count(*) FROM profile p LEFT JOIN postalAddress a ON a.id = p.postalAddress_id"
    )
    assert count(conn, f"{orphans} WHERE p.postalAddress_id IS NOT NULL AND a.id IS NULL") == 0
    indexes = [row[1] for row in conn.execute("PRAGMA index_list(profile)")]
    assert "profile_lastModified_id" in indexes
    index_columns = [row[2] for row in conn.execute("PRAGMA index_info(profile_lastModified_id)")]
    assert index_columns == ["lastModified", "id"]


def test_values_look_real(conn: sqlite3.Connection) -> None:
    genders = {row[0] for row in conn.execute("SELECT DISTINCT gender FROM profile")}
    assert genders == {"male", "female", "unknown"}
    assert count(conn, "SELECT count(*) FROM profile WHERE email NOT LIKE '%_@_%._%'") == 0
    assert count(conn, "SELECT count(DISTINCT email) FROM profile") == 2000
    missing_mobile = count(conn, "SELECT count(*) FROM profile WHERE mobilePhone IS NULL")
    assert 10 <= missing_mobile <= 80  # about 2 %
    assert count(conn, "SELECT count(*) FROM profile WHERE middleName IS NULL") > 0
    assert count(conn, "SELECT count(*) FROM profile WHERE blackList NOT IN (0, 1)") == 0
    assert count(conn, "SELECT count(*) FROM profile WHERE lastModified < created") == 0
    shared = (
        "SELECT count(*) FROM (SELECT lastModified FROM profile GROUP BY 1 HAVING count(*) > 1)"
    )
    assert count(conn, shared) > 50
    qualities = {row[0] for row in conn.execute("SELECT DISTINCT addrQuality FROM postalAddress")}
    assert qualities == set(QUALITY_CODES)
    birth, modified = conn.execute("SELECT birthDate, lastModified FROM profile LIMIT 1").fetchone()
    assert dt.date.fromisoformat(birth)
    assert dt.datetime.strptime(modified, "%Y-%m-%d %H:%M:%S.%f")


def test_sqlalchemy_reflects_and_reads_the_declared_types(demo: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{demo}")
    try:
        profile = sa.Table("profile", sa.MetaData(), autoload_with=engine)
        assert isinstance(profile.c.birthDate.type, sa.Date)
        assert isinstance(profile.c.created.type, sa.DateTime)
        assert isinstance(profile.c.lastModified.type, sa.DateTime)
        assert isinstance(profile.c.blackList.type, sa.Boolean)
        assert [fk.target_fullname for fk in profile.c.postalAddress_id.foreign_keys] == [
            "postalAddress.id"
        ]
        with engine.connect() as conn:
            row = conn.execute(sa.select(profile).where(profile.c.birthDate.is_not(None))).first()
    finally:
        engine.dispose()
    assert row is not None
    assert isinstance(row.birthDate, dt.date)
    assert isinstance(row.lastModified, dt.datetime)
    assert isinstance(row.blackList, bool)


def test_the_same_seed_gives_the_same_rows() -> None:
    assert list(profile_rows(300, seed=7)) == list(profile_rows(300, seed=7))
    assert list(profile_rows(300, seed=7)) != list(profile_rows(300, seed=8))
    first_ids = [profile[0] for _, profile in islice(profile_rows(5, first_id=1001), 5)]
    assert first_ids == [1001, 1002, 1003, 1004, 1005]


def test_two_builds_hold_the_same_data(tmp_path: Path) -> None:
    dumps = []
    for name in ("a.db", "b.db"):
        create_demo_source(tmp_path / name, profiles=300, seed=3)
        with closing(sqlite3.connect(tmp_path / name)) as conn:
            dumps.append(list(conn.iterdump()))
    assert dumps[0] == dumps[1]


def test_an_existing_source_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    create_demo_source(path, profiles=10)
    before = path.stat().st_mtime_ns
    create_demo_source(path, profiles=500)
    assert path.stat().st_mtime_ns == before
    with closing(sqlite3.connect(path)) as conn:
        assert count(conn, "SELECT count(*) FROM profile") == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]


def test_rows_can_be_appended_in_chunks(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "bench.db")) as conn:
        conn.executescript(SCHEMA)
        insert_demo_rows(conn, profiles=25_000)
        insert_demo_rows(conn, profiles=100, first_id=25_001)
        assert count(conn, "SELECT count(*) FROM profile") == 25_100
        assert count(conn, "SELECT max(id) FROM profile") == 25_100
