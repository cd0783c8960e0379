"""The Airflow provider's tests: a real Airflow (``dag.test()``, its metadata database on
SQLite) against a real ``xdm-connector serve`` process.

They run in ``.venv-airflow`` (``make test`` builds it from ``requirements/airflow.txt``),
apart from the product's tests, whose run ignores this folder. The server runs from the
product's own environment (``XDMC_SERVER_PYTHON``, ``.venv/bin/python`` by default), as a
server and an orchestrator would run on different machines.

Airflow reads its settings when first imported: they are set here, before any test
module imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Installation, demo_credentials

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(tempfile.mkdtemp(prefix="xdmc-airflow-"))
CONNECTION = "AIRFLOW_CONN_XDM_CONNECTOR_DEFAULT"
FAILURES = HOME / "failures.txt"
"""Where the DAGs' failure callback writes the error of a failed task."""

os.environ.update(
    AIRFLOW_HOME=str(HOME / "airflow"),
    AIRFLOW__CORE__DAGS_FOLDER=str(Path(__file__).parent / "dags"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME / 'airflow.db'}",
    XDMC_AIRFLOW_TEST_FAILURES=str(FAILURES),
)


def pytest_sessionfinish() -> None:
    shutil.rmtree(HOME, ignore_errors=True)


def server_python() -> str:
    python = Path(os.environ.get("XDMC_SERVER_PYTHON", ROOT / ".venv" / "bin" / "python"))
    if not python.is_file():
        pytest.fail(
            f"no Python for the server at {python}: run make install-dev first, or set "
            "XDMC_SERVER_PYTHON",
            pytrace=False,
        )
    return str(python)


@pytest.fixture(scope="session")
def server() -> Iterator[Installation]:
    """The demo, served; the connection ``xdm_connector_default`` names it."""
    installed = Installation(
        home=HOME / "server", database_url=None, command=[server_python(), "-m", "xdm_connector"]
    )
    installed.home.mkdir()
    try:
        installed.cli("demo")
        installed.serve()
        credentials = demo_credentials(installed)
        os.environ[CONNECTION] = json.dumps(
            {
                "conn_type": "http",
                "host": installed.base_url,
                "login": credentials["client_id"],
                "password": credentials["client_secret"],
                "extra": {"org": "demo"},
            }
        )
        yield installed
    finally:
        os.environ.pop(CONNECTION, None)
        installed.stop()


@pytest.fixture(scope="session")
def airflow_database() -> None:
    """Airflow's metadata database, created empty once."""
    from airflow.utils import db

    db.resetdb()
