"""Which errors of a source's driver are transient: worth waiting for and reading again.

A read fails transiently when the database was busy or its connection went away, not
because of what was asked; trying again later may succeed::

    SQLite       busy or locked (SQLITE_BUSY, SQLITE_LOCKED: "database is locked")
    PostgreSQL   SQLSTATE 08... (connection exception), 40001 (serialization failure, or a
                 conflict with a standby's recovery), 40P01 (deadlock), 25006 (read-only:
                 a failover's standby), 53300 (too many connections), 57P01
                 (``pg_terminate_backend``, an administrator's shutdown), 57P02 (crash
                 shutdown), 57P03 ("the database system is starting up")
    MySQL        error codes of a lost or refused connection, a restart, a lock wait, a
                 deadlock or a read-only switch (``MYSQL_TRANSIENT_CODES``)

An error without a code (libpq's own, when the connection is lost or refused; ADBC's
SQLite driver, which gives only its message) is told by its words
(``TRANSIENT_PHRASES``). Anything else, such as bad SQL, a missing table or column, a
refused authentication or a missing database, is not transient: it fails at once.

    >>> is_transient(sqlite3.OperationalError("database is locked"))  # doctest: +SKIP
    True
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import sqlalchemy as sa

POSTGRES_TRANSIENT_STATES = frozenset(
    {"40001", "40P01", "25006", "53300", "57P01", "57P02", "57P03"}
)
"""Transient SQLSTATEs besides class 08 (connection exception)."""
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
MYSQL_TRANSIENT_CODES = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections
        1053,  # ER_SERVER_SHUTDOWN
        1205,  # ER_LOCK_WAIT_TIMEOUT
        1213,  # ER_LOCK_DEADLOCK
        1290,  # ER_OPTION_PREVENTS_STATEMENT: --read-only, as after a failover
        1792,  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
        1927,  # ER_CONNECTION_KILLED (MariaDB)
        2002,  # CR_CONNECTION_ERROR
        2003,  # CR_CONN_HOST_ERROR
        2006,  # CR_SERVER_GONE_ERROR
        2013,  # CR_SERVER_LOST
        2055,  # CR_SERVER_LOST_EXTENDED
        4031,  # ER_CLIENT_INTERACTION_TIMEOUT
    }
)
_MYSQL_DRIVERS = ("pymysql", "MySQLdb", "mysql.connector", "mariadb", "asyncmy", "aiomysql")
TRANSIENT_PHRASES = (
    # SQLite
    "database is locked",
    "database table is locked",
    # libpq and PostgreSQL, when no SQLSTATE came with them
    "server closed the connection unexpectedly",
    "no connection to the server",
    "connection to server was lost",
    "terminating connection due to",
    "terminating connection because of crash",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "connection refused",
    "connection reset by peer",
    "connection timed out",
    "timeout expired",
    "could not receive data from server",
    "could not send data to server",
    "ssl syscall error",
    "ssl connection has been closed unexpectedly",
    "temporary failure in name resolution",
    "sorry, too many clients already",
    "remaining connection slots are reserved",
    "in a read-only transaction",
    "could not serialize access",
    "conflict with recovery",
    "deadlock detected",
    # MySQL and MariaDB, when no code came with them
    "lost connection to mysql server",
    "mysql server has gone away",
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error``, raised by a source's driver (or wrapping one), is transient."""
    for cause in _causes(error):
        decided = _by_code(cause)
        if decided is not None:
            return decided
    for cause in _causes(error):
        if isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated:
            return True  # SQLAlchemy's dialect saw a lost connection
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
        text = str(cause).lower()
        if any(phrase in text for phrase in TRANSIENT_PHRASES):
            return True
    return False


def driver_error_class(error: BaseException) -> str:
    """The qualified class name of the driver's own error behind ``error``
    (``sqlite3.OperationalError``, ``psycopg.errors.AdminShutdown``, ``OSError``)."""
    causes = list(_causes(error))
    driver = next((c for c in causes if not _is_wrapper(c)), causes[-1])
    kind = type(driver)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps (SQLAlchemy's ``orig``, ``raise ... from``), outermost
    first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, sa.exc.DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__


def _is_wrapper(error: BaseException) -> bool:
    """An error of the product or of SQLAlchemy that carries a driver's error."""
    wraps = error.__cause__ is not None or isinstance(error, sa.exc.DBAPIError)
    return wraps and type(error).__module__.startswith(("xdm_connector.", "sqlalchemy."))


def _by_code(error: BaseException) -> bool | None:
    """Transient or not by the error's code, when it carries one; None otherwise."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return None
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str) and len(state) == 5:
        return state.startswith("08") or state in POSTGRES_TRANSIENT_STATES
    if type(error).__module__.startswith(_MYSQL_DRIVERS):
        code = getattr(error, "errno", None)
        if not isinstance(code, int) and error.args and isinstance(error.args[0], int):
            code = error.args[0]
        if isinstance(code, int):
            return code in MYSQL_TRANSIENT_CODES
    return None
