"""A command imports the libraries it uses and no others: the metadata store's (SQLAlchemy,
the settings) only for the commands that open it, Alembic only for a store to migrate, and
the client's (httpx), Arrow's (with NumPy) and psycopg's only for the commands that need
them. ``--help`` imports none. A worker on a SQLite store loads neither psycopg nor
SQLAlchemy's MySQL dialects (a MySQL read loads those). Each check runs in a fresh
interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STORE_LIBRARIES = ["alembic", "pydantic_settings", "sqlalchemy"]
OTHER_LIBRARIES = ["httpx", "numpy", "psycopg", "pyarrow"]


def _libraries_imported_by(
    *statements: str, home: Path, libraries: list[str] = STORE_LIBRARIES + OTHER_LIBRARIES
) -> list[str]:
    """The ``libraries`` (those above by default) that a fresh interpreter has imported once
    it ran ``statements`` (with ``XDMC_HOME`` at ``home``, and no other setting)."""
    script = "\n".join(
        [*statements, "import sys", f"print(*(n for n in {libraries!r} if n in sys.modules))"]
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDMC_")}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "XDMC_HOME": str(home)},
        check=True,
    )
    return ran.stdout.splitlines()[-1].split()


def test_every_command_built_as_for_help_imports_none_of_the_libraries(tmp_path: Path) -> None:
    # get_command reads every command's options and help from its signature, as --help does.
    imported = _libraries_imported_by(
        "from typer.main import get_command",
        "from xdm_connector.cli import app",
        "get_command(app)",
        home=tmp_path,
    )
    assert imported == []


def test_a_command_on_a_sqlite_store_imports_the_store_libraries_alone(tmp_path: Path) -> None:
    imported = _libraries_imported_by(
        "from xdm_connector.cli import app",
        "app(['orgs', 'list'], standalone_mode=False)",
        home=tmp_path,
    )
    assert imported == STORE_LIBRARIES


def test_a_command_on_a_current_store_leaves_alembic_unloaded(tmp_path: Path) -> None:
    statements = [
        "from xdm_connector.cli import app",
        "app(['orgs', 'list'], standalone_mode=False)",
    ]
    assert "alembic" in _libraries_imported_by(*statements, home=tmp_path)  # a new store

    imported = _libraries_imported_by(*statements, home=tmp_path)

    assert imported == ["pydantic_settings", "sqlalchemy"]


def test_a_worker_on_a_sqlite_store_loads_neither_psycopg_nor_a_mysql_dialect(
    tmp_path: Path,
) -> None:
    imported = _libraries_imported_by(
        "import threading",
        "import xdm_connector.app",
        "from xdm_connector.jobs.notify import wakeups_for",
        "from xdm_connector.jobs.worker import Worker",
        "from xdm_connector.settings import Settings",
        "from xdm_connector.store.store import Store",
        "settings = Settings()",
        "store = Store(settings.store_url)",
        "store.upgrade()",
        "wakeups_for(store, threading.Event()).close()",
        "Worker(store, settings).run_once()",
        "store.close()",
        home=tmp_path,
        libraries=["psycopg", "sqlalchemy.dialects.mysql", "sqlalchemy.dialects.postgresql"],
    )
    assert imported == ["sqlalchemy.dialects.postgresql"]
