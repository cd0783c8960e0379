"""Applying the Alembic migrations of the metadata store."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

SCRIPT_LOCATION = "xdm_connector.store:migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (the latest by default)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def is_current(engine: sa.Engine) -> bool:
    """Whether the store's schema is at the latest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads
