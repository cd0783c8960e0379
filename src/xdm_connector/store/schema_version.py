"""Applying the Alembic migrations of the metadata store.

Nearly every process finds its store current. It learns so from the store's revision, read
with one query, and never loads Alembic, which takes about 90 ms to import with the
template engine it brings.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import sqlalchemy as sa

from xdm_connector.store.engine import writer_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "xdm_connector.store:migrations"
HEAD_REVISION = "0014"
"""The revision of the latest migration in ``migrations/versions`` (a test holds it to
Alembic's head)."""
VERSION_TABLE = "alembic_version"
"""Where Alembic keeps a store's revision."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# Alembic's migration context is process-global: one upgrade at a time per process.
_UPGRADING = threading.Lock()
# Key of the PostgreSQL advisory lock that serializes upgrades across processes.
_PG_UPGRADE_LOCK = 0x7864_6D63


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (the latest by default).

    Safe when several processes start together on a new database: each upgrade runs in a
    writer transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an advisory lock), so the
    ones that wait find the schema current.
    """
    if revision == "head" and is_current(engine):
        return
    from alembic import command

    with _UPGRADING, writer_engine(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_UPGRADE_LOCK)))
        command.upgrade(alembic_config(connection), revision)


def is_current(engine: sa.Engine) -> bool:
    """Whether the store's schema is at the latest revision."""
    return current_revisions(engine) == {HEAD_REVISION}


def current_revisions(engine: sa.Engine) -> set[str]:
    """The store's revisions as Alembic recorded them (none in a new database)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return set()
        version = sa.table(VERSION_TABLE, sa.column("version_num", sa.String()))
        return set(connection.scalars(sa.select(version.c.version_num)))
