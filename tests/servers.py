"""The database servers the tests run against: the ones configured, or private ones.

``python -m tests.servers COMMAND...`` runs COMMAND (``make test`` runs pytest this way)
with ``XDMC_TEST_POSTGRES_URL`` naming a PostgreSQL server and ``XDMC_TEST_MYSQL_URL`` a
MariaDB server that answer. When the server a variable names (or its default) answers, it
is used as it is. When it does not, a private, throwaway server is provisioned for the
run: Debian's binaries (``postgresql``, ``mariadb-server``; installed with apt-get when
they are missing), a new data folder in a temporary folder (``initdb``,
``mariadb-install-db``) owned by an unprivileged user, the server started on a free port
of the loopback, then stopped and removed when COMMAND ends, whatever its outcome.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
from sqlalchemy.engine import make_url

POSTGRES_URL_VARIABLE = "XDMC_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "test"
SUPERUSER = "postgres"
MYSQL_URL_VARIABLE = "XDMC_TEST_MYSQL_URL"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
MARIADB_START_SECONDS = 60
PROBE_TIMEOUT_SECONDS = 3
START_ATTEMPTS = 5
"""Ports tried in turn: PostgreSQL binds its own socket, so a free port can be taken
between the moment it is chosen and the moment the server binds it."""


def log(message: str) -> None:
    print(f"tests.servers: {message}", file=sys.stderr, flush=True)


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL of PostgreSQL as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_answers(url: str) -> bool:
    """Whether the PostgreSQL server of ``url`` accepts a connection now."""
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=PROBE_TIMEOUT_SECONDS):
            return True
    except psycopg.OperationalError:
        return False


def postgres_bin_dir() -> Path:
    """Debian's PostgreSQL server binaries, installed with apt-get when missing."""
    found = _installed_bin_dir()
    if found is None:
        log("PostgreSQL's server binaries are missing: installing Debian's postgresql")
        _apt_get_install("postgresql")
        found = _installed_bin_dir()
    if found is None:
        raise SystemExit("tests.servers: apt-get installed postgresql, but initdb is missing")
    return found


def _installed_bin_dir() -> Path | None:
    # Debian keeps each major version apart; the newest one installed is taken.
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _apt_get_install(package: str) -> None:
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo"]
    else:
        raise SystemExit(
            f"tests.servers: {package} is needed: run as root, install sudo, "
            f"or apt-get install {package}"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=environment)
    subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-q", package], check=True, env=environment
    )


def _unprivileged_user(own: str = "postgres") -> str | None:
    """The user a server runs as when the tests run as root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in (own, "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise SystemExit("tests.servers: running as root, and neither postgres nor nobody exists")


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A new PostgreSQL server of its own, for as long as the context lasts: yields the
    URL of its database ``test``; the server is stopped and its folder removed after."""
    bin_dir = postgres_bin_dir()
    user = _unprivileged_user()
    home = Path(tempfile.mkdtemp(prefix="xdmc-test-postgres-"))
    data, sockets = home / "data", home / "sockets"
    data.mkdir()
    sockets.mkdir()
    if user is not None:
        account = pwd.getpwnam(user)
        for path in (home, data, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    started = False
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust"]
        _run_as(user, [*initdb, "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"])
        port = _start(bin_dir, user, data, sockets, home / "server.log")
        started = True
        url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        with psycopg.connect(libpq_conninfo(_database_url(url, "postgres")), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {DATABASE}")
        log(f"provisioned a private PostgreSQL at 127.0.0.1:{port} in {home}")
        yield url
    finally:
        if started:
            _run_as(user, [str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"])
        shutil.rmtree(home, ignore_errors=True)
        log(f"removed the private PostgreSQL in {home}")


def _database_url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _start(bin_dir: Path, user: str | None, data: Path, sockets: Path, logfile: Path) -> int:
    for _ in range(START_ATTEMPTS):
        port = _free_loopback_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} "
            # A throwaway server: durability buys nothing here and costs the tests time.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        command = [str(bin_dir / "pg_ctl"), "start", "-w", "-D", str(data), "-l", str(logfile)]
        if _run_as(user, [*command, "-o", options], check=False) == 0:
            return port
    raise SystemExit(f"tests.servers: PostgreSQL did not start; see {logfile}")


def _run_as(user: str | None, command: list[str], *, check: bool = True) -> int:
    completed = subprocess.run(
        command,
        user=user,
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if check and completed.returncode != 0:
        raise SystemExit(f"tests.servers: {command[0]} failed: {completed.stderr.strip()}")
    return completed.returncode


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[str]:
    """The configured PostgreSQL when it answers, else a private one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    if postgres_answers(url):
        yield url
        return
    where = make_url(url).render_as_string(hide_password=True)
    log(f"PostgreSQL does not answer at {where}: provisioning a private one")
    with private_postgres() as private_url:
        yield private_url


def mysql_answers(url: str) -> bool:
    """Whether the MariaDB (or MySQL) server of ``url`` accepts a connection now."""
    parsed = make_url(url)
    try:
        pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=str(parsed.password or ""),
            connect_timeout=PROBE_TIMEOUT_SECONDS,
        ).close()
    except pymysql.err.OperationalError:
        return False
    return True


def mariadb_binaries() -> tuple[Path, Path]:
    """Debian's ``mariadb-install-db`` and ``mariadbd``, installed with apt-get when missing."""
    found = _mariadb_binaries()
    if found is None:
        log("MariaDB's server binaries are missing: installing Debian's mariadb-server")
        _apt_get_install("mariadb-server")
        found = _mariadb_binaries()
    if found is None:
        raise SystemExit("tests.servers: apt-get installed mariadb-server, but mariadbd is missing")
    return found


def _mariadb_binaries() -> tuple[Path, Path] | None:
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    server = next(
        (path for path in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if os.access(path, os.X_OK)),
        shutil.which("mariadbd"),
    )
    return (Path(install), Path(server)) if install and server else None


@contextlib.contextmanager
def private_mariadb() -> Iterator[str]:
    """A new MariaDB server of its own, for as long as the context lasts: yields the URL of
    its database ``test`` (user root, no password); stopped and removed after."""
    install, server = mariadb_binaries()
    user = _unprivileged_user("mysql")
    home = Path(tempfile.mkdtemp(prefix="xdmc-test-mariadb-"))
    data, socket_path = home / "data", home / "mariadb.sock"
    data.mkdir()
    if user is not None:
        account = pwd.getpwnam(user)
        for path in (home, data):
            os.chown(path, account.pw_uid, account.pw_gid)
    as_user = [f"--user={user}"] if user is not None else []
    process: subprocess.Popen[bytes] | None = None
    try:
        _run_as(
            None,
            [
                str(install), "--no-defaults", f"--datadir={data}", *as_user,
                "--auth-root-authentication-method=normal", "--skip-test-db",
            ],
        )  # fmt: skip
        port = _free_loopback_port()
        with (home / "server.log").open("wb") as logfile:
            process = subprocess.Popen(
                [
                    str(server), "--no-defaults", f"--datadir={data}", *as_user,
                    f"--socket={socket_path}", f"--port={port}", "--bind-address=127.0.0.1",
                    f"--pid-file={home / 'mariadb.pid'}", "--skip-log-bin",
                    # A throwaway server: durability buys nothing here and costs the tests time.
                    "--innodb-flush-log-at-trx-commit=0", "--skip-innodb-doublewrite",
                    "--character-set-server=utf8mb4",
                ],
                stdout=logfile, stderr=subprocess.STDOUT, cwd="/",
            )  # fmt: skip
        _wait_for_mariadb(process, socket_path, home / "server.log")
        administration = pymysql.connect(unix_socket=str(socket_path), user="root", autocommit=True)
        with administration as conn, conn.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
            cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        log(f"provisioned a private MariaDB at 127.0.0.1:{port} in {home}")
        yield f"mysql://root@127.0.0.1:{port}/{DATABASE}"
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=MARIADB_START_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)
        log(f"removed the private MariaDB in {home}")


def _wait_for_mariadb(process: subprocess.Popen[bytes], socket_path: Path, logfile: Path) -> None:
    for _ in range(MARIADB_START_SECONDS * 10):
        if process.poll() is not None:
            raise SystemExit(f"tests.servers: MariaDB did not start; see {logfile}")
        try:
            pymysql.connect(unix_socket=str(socket_path), user="root").close()
        except pymysql.err.OperationalError:
            time.sleep(0.1)
            continue
        return
    raise SystemExit(f"tests.servers: MariaDB did not answer in time; see {logfile}")


@contextlib.contextmanager
def mysql_for_tests() -> Iterator[str]:
    """The configured MariaDB when it answers, else a private one."""
    url = os.environ.get(MYSQL_URL_VARIABLE, DEFAULT_MYSQL_URL)
    if mysql_answers(url):
        yield url
        return
    where = make_url(url).render_as_string(hide_password=True)
    log(f"MariaDB does not answer at {where}: provisioning a private one")
    with private_mariadb() as private_url:
        yield private_url


def _stop_on_sigterm() -> None:
    # A SIGTERM unwinds the context managers like Ctrl-C does, so the servers are removed.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(command: list[str]) -> int:
    """Run ``command`` with database servers that answer; return its exit status."""
    if not command:
        raise SystemExit("usage: python -m tests.servers COMMAND [ARGUMENT...]")
    _stop_on_sigterm()
    with postgres_for_tests() as postgres_url, mysql_for_tests() as mysql_url:
        environment = {
            **os.environ,
            POSTGRES_URL_VARIABLE: postgres_url,
            MYSQL_URL_VARIABLE: mysql_url,
        }
        child = subprocess.Popen(command, env=environment)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            child.wait()
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
