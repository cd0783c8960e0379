"""Applying the Alembic migrations of the metadata store."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from xdm_connector.store.engine import writer_engine

SCRIPT_LOCATION = "xdm_connector.store:migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection``."""
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
    with _UPGRADING, writer_engine(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_UPGRADE_LOCK)))
        command.upgrade(alembic_config(connection), revision)


def is_current(engine: sa.Engine) -> bool:
    """Whether the store's schema is at the latest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads
