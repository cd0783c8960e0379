"""The benchmark's source databases: the demo's realistic profiles, made once and cached.

- SQLite: ``<data>/profiles-<N>.db``, built by ``demo.source.create_demo_source``.
- PostgreSQL: the same rows in the database ``xdmc_bench_<N>`` of the server named by
  ``XDMC_TEST_POSTGRES_URL``, copied from the SQLite file with ``COPY``; kept while its row
  count is right.
- MariaDB (MySQL): the same rows in the database ``xdmc_bench_<N>`` of the server named by
  ``XDMC_TEST_MYSQL_URL``, copied with ``LOAD DATA LOCAL INFILE`` (``copy_into_mysql``, which
  the tests use too); kept while its row count is right.

All have the demo's two tables, ``profile`` and ``postalAddress``.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import sqlalchemy as sa
from psycopg import sql

from xdm_connector.demo.source import create_demo_source

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"

# The demo's tables in MySQL's words: BOOLEAN is tinyint(1), date-times keep microseconds.
MYSQL_SCHEMA = (
    """CREATE TABLE postalAddress (
    id BIGINT PRIMARY KEY, line1 VARCHAR(80), line2 VARCHAR(80), city VARCHAR(50),
    zipCode VARCHAR(10), stateCode VARCHAR(10), countryCode VARCHAR(2),
    addrDefined BOOLEAN NOT NULL DEFAULT FALSE, addrQuality VARCHAR(40)
) CHARACTER SET utf8mb4""",
    """CREATE TABLE profile (
    id BIGINT PRIMARY KEY, email VARCHAR(128), firstName VARCHAR(50),
    middleName VARCHAR(50), lastName VARCHAR(50), birthDate DATE,
    gender VARCHAR(10) NOT NULL DEFAULT 'unknown', mobilePhone VARCHAR(32),
    phone VARCHAR(32), blackList BOOLEAN NOT NULL DEFAULT FALSE,
    blackListEmail BOOLEAN NOT NULL DEFAULT FALSE,
    blackListMobile BOOLEAN NOT NULL DEFAULT FALSE,
    postalAddress_id BIGINT, created DATETIME(6) NOT NULL, lastModified DATETIME(6) NOT NULL,
    FOREIGN KEY (postalAddress_id) REFERENCES postalAddress(id)
) CHARACTER SET utf8mb4""",
)
MYSQL_INDEXES = "CREATE INDEX profile_lastModified_id ON profile (lastModified, id)"

POSTGRES_SCHEMA = """
CREATE TABLE "postalAddress" (
    id BIGINT PRIMARY KEY, line1 VARCHAR(80), line2 VARCHAR(80), city VARCHAR(50),
    "zipCode" VARCHAR(10), "stateCode" VARCHAR(10), "countryCode" VARCHAR(2),
    "addrDefined" BOOLEAN NOT NULL DEFAULT FALSE, "addrQuality" VARCHAR(40)
);
CREATE TABLE profile (
    id BIGINT PRIMARY KEY, email VARCHAR(128), "firstName" VARCHAR(50),
    "middleName" VARCHAR(50), "lastName" VARCHAR(50), "birthDate" DATE,
    gender VARCHAR(10) NOT NULL DEFAULT 'unknown', "mobilePhone" VARCHAR(32),
    phone VARCHAR(32), "blackList" BOOLEAN NOT NULL DEFAULT FALSE,
    "blackListEmail" BOOLEAN NOT NULL DEFAULT FALSE,
    "blackListMobile" BOOLEAN NOT NULL DEFAULT FALSE,
    "postalAddress_id" BIGINT REFERENCES "postalAddress"(id),
    created TIMESTAMP NOT NULL, "lastModified" TIMESTAMP NOT NULL
);
"""
POSTGRES_INDEXES = 'CREATE INDEX profile_lastmodified_id ON profile ("lastModified", id);'
_BOOLEAN_COLUMNS = {"postalAddress": (7,), "profile": (9, 10, 11)}

# The source columns the demo mapping reads, as a plain read selects them.
SOURCE_COLUMNS = (
    'p.id, p.email, p."firstName", p."middleName", p."lastName", p."birthDate", p.gender, '
    'p."mobilePhone", p.phone, a.line1, a.city, a."zipCode", a."stateCode", '
    'a."countryCode", a."addrDefined", a."addrQuality", p."blackList", p."blackListEmail", '
    'p."blackListMobile", p.created, p."lastModified"'
)
PLAIN_READ = (
    f"SELECT {SOURCE_COLUMNS} FROM profile AS p "
    'LEFT OUTER JOIN "postalAddress" AS a ON p."postalAddress_id" = a.id'
)

# The simple mapping: 8 direct fields of the profile table, no join, no expression (its
# audit field, lastModified, is one of them), and a plain read of those 8 columns.
SIMPLE_MAPPING = "SIMPLE8"
SIMPLE_FIELDS = {
    "email": "/personalEmail/address",
    "firstName": "/person/name/firstName",
    "middleName": "/person/name/middleName",
    "lastName": "/person/name/lastName",
    "birthDate": "/person/birthDate",
    "mobilePhone": "/mobilePhone/number",
    "phone": "/homePhone/number",
    "lastModified": "/_repo/modifyDate",
}
SIMPLE_READ = "SELECT {} FROM profile".format(", ".join(f'"{name}"' for name in SIMPLE_FIELDS))


def simple_mapping() -> dict[str, Any]:
    """The simple mapping's document (as ``mappings apply`` takes it) into the demo dataset."""
    return {
        "id": SIMPLE_MAPPING,
        "label": "8 direct fields",
        "targetingDimension": "profile",
        "dataset": "profiles",
        "auditFields": ["@lastModified"],
        "fieldMappings": [
            {"source": f"@{column}", "xdm": xdm} for column, xdm in SIMPLE_FIELDS.items()
        ],
    }


def sqlite_source(folder: Path, profiles: int) -> Path:
    """The cached SQLite source of ``profiles`` profiles (built the first time)."""
    path = folder / f"profiles-{profiles}.db"
    if not path.is_file():
        print(f"bench: generating {profiles:,} profiles in {path} (once)", flush=True)
        create_demo_source(path, profiles=profiles)
    return path


def postgres_source(server_url: str, sqlite_path: Path, profiles: int) -> str:
    """A PostgreSQL database holding the rows of ``sqlite_path``; its SQLAlchemy URL."""
    server = sa.make_url(server_url)
    name = f"xdmc_bench_{profiles}"
    with psycopg.connect(_libpq(server), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.set(database=name)
    with psycopg.connect(_libpq(url)) as conn:
        present = conn.execute("SELECT to_regclass('profile') IS NOT NULL").fetchone()
        filled = bool(present and present[0]) and _rows(conn) == profiles
    if not filled:
        print(f"bench: copying {profiles:,} profiles into PostgreSQL {name} (once)", flush=True)
        copy_into_postgres(url, sqlite_path)
    return url.render_as_string(hide_password=False)


def copy_into_postgres(url: str | sa.URL, sqlite_path: Path) -> None:
    """Replace the demo's tables of the PostgreSQL database of ``url`` with the rows of the
    SQLite file ``sqlite_path``, through ``COPY``."""
    with psycopg.connect(_libpq(sa.make_url(url))) as conn:
        _fill(conn, sqlite_path)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (no ``+driver``)."""
    return _libpq(sa.make_url(url))


def _libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _rows(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = conn.execute("SELECT count(*) FROM profile").fetchone()
    return int(row[0]) if row else 0


def _fill(conn: psycopg.Connection[tuple[Any, ...]], sqlite_path: Path) -> None:
    conn.execute('DROP TABLE IF EXISTS profile, "postalAddress"')
    conn.execute(POSTGRES_SCHEMA)
    with closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)) as source:
        for table in ("postalAddress", "profile"):
            booleans = _BOOLEAN_COLUMNS[table]
            rows = source.execute(f'SELECT * FROM "{table}" ORDER BY id')
            copy = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
            with conn.cursor().copy(copy) as sink:
                while chunk := rows.fetchmany(10_000):
                    for row in chunk:
                        values = list(row)
                        for index in booleans:
                            values[index] = bool(values[index])
                        sink.write_row(values)
    conn.execute(POSTGRES_INDEXES)
    conn.execute("ANALYZE")
    conn.commit()


def mysql_connect(url: str | sa.URL, *, database: str | None = None) -> pymysql.Connection[Any]:
    """A PyMySQL connection to the server of ``url`` (``LOAD DATA LOCAL`` allowed)."""
    parsed = sa.make_url(url)
    return pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=str(parsed.password or ""),
        database=database if database is not None else parsed.database,
        charset="utf8mb4",
        local_infile=True,
        autocommit=True,
    )


def mysql_source(server_url: str, sqlite_path: Path, profiles: int) -> str:
    """A MariaDB (MySQL) database holding the rows of ``sqlite_path``; its URL."""
    name = f"xdmc_bench_{profiles}"
    with closing(mysql_connect(server_url, database="")) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    url = sa.make_url(server_url).set(database=name)
    with closing(mysql_connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'profile'"
                       " AND table_schema = DATABASE()")  # fmt: skip
        present = cursor.fetchone()[0]
        rows = 0
        if present:
            cursor.execute("SELECT COUNT(*) FROM profile")
            rows = int(cursor.fetchone()[0])
    if rows != profiles:
        print(f"bench: copying {profiles:,} profiles into MariaDB {name} (once)", flush=True)
        copy_into_mysql(url, sqlite_path)
    return url.render_as_string(hide_password=False)


def copy_into_mysql(url: str | sa.URL, sqlite_path: Path) -> None:
    """Replace the demo's tables of the MySQL database of ``url`` with the rows of the
    SQLite file ``sqlite_path``, through tab-separated files and ``LOAD DATA LOCAL``."""
    with closing(mysql_connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS profile, postalAddress")
        for statement in MYSQL_SCHEMA:
            cursor.execute(statement)
        source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        with closing(source), tempfile.TemporaryDirectory() as folder:
            for table in ("postalAddress", "profile"):
                path = Path(folder) / f"{table}.tsv"
                with path.open("w", encoding="utf-8") as rows:
                    for row in source.execute(f'SELECT * FROM "{table}" ORDER BY id'):
                        rows.write("\t".join(_tsv(value) for value in row) + "\n")
                cursor.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                    "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'",
                    (str(path),),
                )
        cursor.execute(MYSQL_INDEXES)
        cursor.execute("ANALYZE TABLE profile, postalAddress")
        cursor.fetchall()


def _tsv(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
