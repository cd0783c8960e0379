"""Which driver errors are transient, by their codes or, without one, by their words.

The real drivers' errors (SQLite busy, a terminated PostgreSQL connection...) are met in
``tests/integration/sources/test_source_failures.py``; here are the codes and words that
no local server produces on demand (a failover, a server starting up, MySQL).
"""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from xdm_connector.errors import SourceError
from xdm_connector.sources.driver_errors import driver_error_class, is_transient


def _mysql_error(code: int, message: str) -> Exception:
    """An error as PyMySQL raises it (its class in ``pymysql.err``, the code first)."""
    kind = type("OperationalError", (Exception,), {"__module__": "pymysql.err"})
    return kind(code, message)


def _sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


class _CodedError(Exception):
    """A driver error carrying a SQLSTATE, as psycopg's and ADBC's do."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrapped(error: BaseException) -> SourceError:
    """``error`` as the product raises it: a ``SourceError`` from it."""
    try:
        raise SourceError("ACP-880056 Failed to fetch the record from the database.") from error
    except SourceError as wrapper:
        return wrapper


@pytest.mark.parametrize(
    "error",
    [
        _sqlite_error(5, "database is locked"),
        _sqlite_error(6, "database table is locked"),
        _sqlite_error(517, "database is locked"),  # SQLITE_BUSY_SNAPSHOT
        OSError("INVALID_ARGUMENT: [SQLite] Failed to prepare query: database is locked"),
        _CodedError("terminating connection due to administrator command", "57P01"),
        _CodedError("the database system is starting up", "57P03"),
        _CodedError("could not serialize access due to concurrent update", "40001"),
        _CodedError("cannot execute SELECT in a read-only transaction", "25006"),
        _CodedError("connection failure", "08006"),
        _CodedError("deadlock detected", "40P01"),
        psycopg.OperationalError(
            'connection failed: connection to server at "db", port 5432 failed: FATAL:  the '
            "database system is starting up"
        ),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        OSError("[libpq] Execution error: FATAL: terminating connection due to administrator"),
        ConnectionResetError(104, "Connection reset by peer"),
        _mysql_error(2013, "Lost connection to MySQL server during query"),
        _mysql_error(2006, "MySQL server has gone away"),
        _mysql_error(1290, "The MySQL server is running with the --read-only option"),
        _mysql_error(1213, "Deadlock found when trying to get lock"),
    ],
    ids=lambda error: str(error)[:40],
)
def test_busy_and_lost_connections_are_transient(error: Exception) -> None:
    assert is_transient(error)
    assert is_transient(_wrapped(error))
    wrapped = sa.exc.OperationalError("SELECT 1", {}, error)
    assert is_transient(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        _sqlite_error(1, "no such table: profile"),
        _sqlite_error(1, 'near "selec": syntax error'),
        _CodedError('relation "profile" does not exist', "42P01"),
        _CodedError('syntax error at or near "selec"', "42601"),
        _CodedError('password authentication failed for user "crm"', "28P01"),
        # A code decides, whatever the words: a missing column is not a lost connection.
        _CodedError('column "connection refused" does not exist', "42703"),
        psycopg.OperationalError(
            'connection failed: connection to server at "db", port 5432 failed: FATAL:  '
            'password authentication failed for user "crm"'
        ),
        psycopg.OperationalError('FATAL:  database "crm" does not exist'),
        OSError('[libpq] Failed to connect: FATAL:  role "nobody" does not exist'),
        _mysql_error(1045, "Access denied for user 'crm'@'localhost'"),
        _mysql_error(1146, "Table 'crm.profile' doesn't exist"),
        ValueError("a bug"),
    ],
    ids=lambda error: str(error)[:40],
)
def test_what_was_asked_is_not_transient(error: Exception) -> None:
    assert not is_transient(error)
    assert not is_transient(_wrapped(error))


def test_the_class_is_the_drivers_own() -> None:
    locked = _sqlite_error(5, "database is locked")
    assert driver_error_class(_wrapped(locked)) == "sqlite3.OperationalError"
    wrapped = sa.exc.OperationalError("SELECT 1", {}, locked)
    assert driver_error_class(_wrapped(wrapped)) == "sqlite3.OperationalError"
    assert driver_error_class(_wrapped(OSError("lost"))) == "OSError"
    assert driver_error_class(SourceError("no cause")) == "xdm_connector.errors.SourceError"
