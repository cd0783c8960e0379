"""``python -m tests.servers``: the configured PostgreSQL when it answers, else a private
one provisioned for the run and removed after it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

PRINT_SERVER = (
    "import os, psycopg; from tests.servers import libpq_conninfo; "
    "url = os.environ['XDMC_TEST_POSTGRES_URL']; print(url); "
    "connection = psycopg.connect(libpq_conninfo(url)); "
    "print(connection.execute('show data_directory').fetchone()[0])"
)
ROOT = Path(__file__).resolve().parents[3]


def test_a_server_that_answers_is_used_as_it_is(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(servers.POSTGRES_URL_VARIABLE, postgres_server_url)
    with servers.postgres_for_tests() as url:
        assert url == postgres_server_url


def test_an_unreachable_server_is_replaced_by_a_private_one_removed_after() -> None:
    with socket.socket() as closed:
        # Bound but not listening: connections to this port are refused while it is held.
        closed.bind(("127.0.0.1", 0))
        unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{closed.getsockname()[1]}/test"
        assert not servers.postgres_answers(unreachable)
        completed = subprocess.run(
            [sys.executable, "-m", "tests.servers", sys.executable, "-c", PRINT_SERVER],
            env={**os.environ, servers.POSTGRES_URL_VARIABLE: unreachable},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    private_url, data_directory = completed.stdout.split()
    assert private_url != unreachable
    assert private_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert "provisioning a private one" in completed.stderr
    # Stopped and removed: its folder is gone and its port answers no more.
    assert not Path(data_directory).exists()
    assert not Path(data_directory).parent.exists()
    assert not servers.postgres_answers(private_url)


def test_the_command_s_exit_status_is_the_run_s(postgres_server_url: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.servers", sys.executable, "-c", "raise SystemExit(3)"],
        env={**os.environ, servers.POSTGRES_URL_VARIABLE: postgres_server_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 3


PRINT_MARIADB = (
    "import os, pymysql; from sqlalchemy.engine import make_url; "
    "url = os.environ['XDMC_TEST_MYSQL_URL']; print(url); parsed = make_url(url); "
    "connection = pymysql.connect(host=parsed.host, port=parsed.port, user='root', "
    "database=parsed.database); cursor = connection.cursor(); "
    "cursor.execute('SELECT @@datadir'); print(cursor.fetchone()[0])"
)


def test_an_unreachable_mariadb_is_replaced_by_a_private_one_removed_after(
    postgres_server_url: str,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"mysql://root@127.0.0.1:{closed.getsockname()[1]}/test"
        assert not servers.mysql_answers(unreachable)
        completed = subprocess.run(
            [sys.executable, "-m", "tests.servers", sys.executable, "-c", PRINT_MARIADB],
            env={
                **os.environ,
                servers.POSTGRES_URL_VARIABLE: postgres_server_url,
                servers.MYSQL_URL_VARIABLE: unreachable,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    private_url, data_directory = completed.stdout.split()
    assert private_url != unreachable
    assert private_url.startswith("mysql://root@127.0.0.1:")
    assert "MariaDB does not answer" in completed.stderr
    assert not Path(data_directory).exists()
    assert not Path(data_directory).parent.exists()
    assert not servers.mysql_answers(private_url)
