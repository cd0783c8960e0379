"""The column, key and index definitions the migrations share.

Every migration that uses one of these replays it whenever a store is upgraded, so what a
definition produces must never change: a new shape of column or key gets a new function.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from xdm_connector.store.models import UtcDateTime


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON, stored as ``JSONB`` on PostgreSQL."""
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def json_column(name: str, *, nullable: bool) -> sa.Column[Any]:
    """A JSON column (``JSONB`` on PostgreSQL)."""
    return sa.Column(name, json_type(), nullable=nullable)


def timestamp_column(name: str, *, nullable: bool) -> sa.Column[Any]:
    """A column of timezone-aware UTC timestamps."""
    return sa.Column(name, UtcDateTime(timezone=True), nullable=nullable)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """The primary key of ``table``, named ``pk_<table>``."""
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def foreign_key(
    table: str,
    columns: list[str],
    parent: str,
    parent_columns: list[str],
    *,
    ondelete: str | None = "CASCADE",
) -> sa.ForeignKeyConstraint:
    """The key from ``table``'s ``columns`` to ``parent``'s, named ``fk_<table>_<columns>_<parent>``.

    Deleting the parent row deletes ``table``'s rows unless ``ondelete`` says otherwise.
    """
    return sa.ForeignKeyConstraint(
        columns,
        [f"{parent}.{column}" for column in parent_columns],
        name=op.f(f"fk_{table}_{'_'.join(columns)}_{parent}"),
        ondelete=ondelete,
    )


def id_column() -> sa.Column[Any]:
    """The integer ``id`` by which a table numbers its rows (its primary key)."""
    return sa.Column("id", sa.Integer(), nullable=False)


def organization_column() -> sa.Column[Any]:
    """The ``org_id`` of a row that belongs to an organization (see :func:`organization_key`)."""
    return sa.Column("org_id", sa.String(length=64), nullable=False)


def organization_key(table: str) -> sa.ForeignKeyConstraint:
    """The key from ``table``'s ``org_id`` to its organization, deleted with it."""
    return foreign_key(table, ["org_id"], "organizations", ["id"])


def _index_name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def create_indexes(table: str, *indexed: list[str]) -> None:
    """Create a plain index on each list of ``table``'s columns, named ``ix_<table>_<columns>``."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for columns in indexed:
            batch_op.create_index(batch_op.f(_index_name(table, columns)), columns, unique=False)


def drop_indexes(table: str, *indexed: list[str]) -> None:
    """Drop the indexes :func:`create_indexes` made on each list of ``table``'s columns."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for columns in indexed:
            batch_op.drop_index(batch_op.f(_index_name(table, columns)))
