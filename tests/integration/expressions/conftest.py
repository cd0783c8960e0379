"""A source database on a SQLite file, on PostgreSQL and on MariaDB, with profiles and their
addresses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

ADDRESSES: list[dict[str, Any]] = [
    {"id": 1, "addrDefined": 0, "addrQuality": "Valid", "city": "Paris"},
    {"id": 2, "addrDefined": 1, "addrQuality": "bad address", "city": "Lyon"},
    {"id": 3, "addrDefined": 1, "addrQuality": "UNKNOWN-code", "city": None},
]

PROFILES: list[dict[str, Any]] = [
    {
        "id": 1,
        "email": "Alice@Example.org",
        "firstName": "Alice",
        "lastName": "Martin",
        "birthDate": dt.date(1980, 2, 3),
        "blackList": True,
        "created": dt.datetime(2024, 1, 2, 3, 4, 5),
        "blackListEmail": 0,
        "cusBooleanField": False,
        "score": Decimal("12.50"),
        "age": 44,
        "postalAddress_id": 1,
        "manager_id": None,
    },
    {
        "id": 2,
        "email": "bob@example.org",
        "firstName": "Bob",
        "lastName": None,
        "birthDate": dt.date(1990, 12, 31),
        "blackList": False,
        "created": dt.datetime(2024, 5, 6, 7, 8, 9),
        "blackListEmail": 1,
        "cusBooleanField": True,
        "score": Decimal("7.25"),
        "age": 33,
        "postalAddress_id": 2,
        "manager_id": 1,
    },
    {
        "id": 3,
        "email": None,
        "firstName": "  Carol ",
        "lastName": "Durand",
        "birthDate": None,
        "blackList": False,
        "created": dt.datetime(2023, 11, 30, 23, 59, 59),
        "blackListEmail": 0,
        "cusBooleanField": None,
        "score": Decimal("-2.75"),
        "age": None,
        "postalAddress_id": None,
        "manager_id": 2,
    },
    {
        "id": 4,
        "email": "dave@example.org",
        "firstName": "Dave",
        "lastName": "Roux",
        "birthDate": dt.date(2000, 2, 29),
        "blackList": False,
        "created": dt.datetime(2024, 12, 31, 12, 0, 0),
        "blackListEmail": 1,
        "cusBooleanField": True,
        "score": Decimal("0.00"),
        "age": 24,
        "postalAddress_id": 3,
        "manager_id": 1,
    },
]


def create_source(engine: Engine) -> None:
    """Create and fill ``postalAddress``, ``profile``, ``purchase``, ``noKey``, a view."""
    metadata = sa.MetaData()
    address = sa.Table(
        "postalAddress",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("addrDefined", sa.Integer),
        sa.Column("addrQuality", sa.Text),
        sa.Column("city", sa.String(80)),
    )
    profile = sa.Table(
        "profile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120)),
        sa.Column("firstName", sa.String(60)),
        sa.Column("lastName", sa.String(60)),
        sa.Column("birthDate", sa.Date),
        sa.Column("blackList", sa.Boolean),
        sa.Column("created", sa.DateTime),
        sa.Column("blackListEmail", sa.Integer),
        sa.Column("cusBooleanField", sa.Boolean),
        sa.Column("score", sa.Numeric(10, 2)),
        sa.Column("age", sa.Integer),
        sa.Column("postalAddress_id", sa.ForeignKey("postalAddress.id")),
        sa.Column("manager_id", sa.ForeignKey("profile.id")),
    )
    sa.Table(
        "purchase",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customerId", sa.ForeignKey("profile.id")),
        sa.Column("shipping_address_ID", sa.ForeignKey("postalAddress.id")),
        sa.Column("amount", sa.Numeric(10, 2)),
    )
    sa.Table("noKey", metadata, sa.Column("code", sa.String(10)), sa.Column("label", sa.Text))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(address.insert(), ADDRESSES)
        connection.execute(profile.insert(), PROFILES)
        quote = engine.dialect.identifier_preparer.quote
        connection.exec_driver_sql(
            f"CREATE VIEW {quote('activeProfile')} AS SELECT id, email, "
            f"{quote('postalAddress_id')} FROM profile WHERE NOT {quote('blackList')}"
        )


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on a new source database (a SQLite file, PostgreSQL, MariaDB), filled."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'source.db'}"
    elif request.param == "mysql":
        url = request.getfixturevalue("mysql_url")
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    create_source(engine)
    yield engine
    engine.dispose()
