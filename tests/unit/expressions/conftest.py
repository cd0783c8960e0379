"""A profile resource described by hand (no database) and a compiler over it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from xdm_connector.expressions import ExpressionCompiler
from xdm_connector.sources.schema import Link, Resource


@pytest.fixture
def resource() -> Resource:
    """``profile`` with a ``postalAddress`` link, whose target links to ``country``."""
    metadata = sa.MetaData()
    country = sa.Table(
        "country",
        metadata,
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("label", sa.String(80)),
    )
    address = sa.Table(
        "postalAddress",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("addrDefined", sa.Integer),
        sa.Column("addrQuality", sa.String(20)),
        sa.Column("country_code", sa.String(2)),
    )
    profile = sa.Table(
        "profile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120)),
        sa.Column("age", sa.Integer),
        sa.Column("score", sa.Numeric(10, 2)),
        sa.Column("blackList", sa.Boolean),
        sa.Column("birthDate", sa.Date),
        sa.Column("created", sa.DateTime),
        sa.Column("token", sa.Uuid),
        sa.Column("payload", sa.JSON),
        sa.Column("postalAddress_id", sa.Integer),
    )
    country_resource = Resource(country, ("code",), ())
    address_resource = Resource(
        address,
        ("id",),
        (Link("country", ("country_code",), ("code",), country_resource),),
    )
    link = Link("postalAddress", ("postalAddress_id",), ("id",), address_resource)
    return Resource(profile, ("id",), (link,))


@pytest.fixture
def compiler(resource: Resource) -> ExpressionCompiler:
    return ExpressionCompiler(resource)
