"""SQL constructs whose spelling differs between PostgreSQL, SQLite and MySQL.

Each is a small ``FunctionElement`` with a default (PostgreSQL) rendering and overrides per
dialect through ``@compiles``. Format strings they need travel as bound parameters too.

================  ============================  ===========================  ===================
construct         PostgreSQL (default)          SQLite                       MySQL
================  ============================  ===========================  ===================
CharLength        ``char_length(x)``            ``length(x)``                ``char_length(x)``
DateOf            ``CAST(x AS DATE)``           ``date(x)``                  ``CAST(x AS DATE)``
DateTimeOf        ``CAST(x AS TIMESTAMP)``      ``strftime(fmt, x)`` [1]     ``CAST(x AS DATETIME)``
TruncatedInteger  ``CAST(trunc(x) AS BIGINT)``  ``CAST(x AS INTEGER)``       ``TRUNCATE(x, 0)``
IsoText           ``to_char(x, fmt)``           ``strftime(fmt, x)``         ``DATE_FORMAT(x, fmt)``
Quotient          ``x / CAST(y AS NUMERIC)``    ``x / CAST(y AS REAL)``      ``x / y``
ByteOrdered       ``x``                         ``x``                        ``CAST(... AS BINARY)`` [2]
================  ============================  ===========================  ===================

[1] ``YYYY-MM-DD HH:MM:SS.SSS``, which SQLAlchemy's SQLite ``DateTime`` reads back.
[2] ``CAST(CONVERT(x USING utf8mb4) AS BINARY)`` for a string ``x``; any other ``x`` as is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class CharLength(FunctionElement[int]):
    """The number of characters of a string."""

    type = sa.Integer()
    inherit_cache = True


class DateOf(FunctionElement[dt.date]):
    """A string, date or timestamp as a date."""

    type = sa.Date()
    inherit_cache = True


class DateTimeOf(FunctionElement[dt.datetime]):
    """A string, date or timestamp as a timestamp."""

    type = sa.DateTime()
    inherit_cache = True


class TruncatedInteger(FunctionElement[int]):
    """A number truncated toward zero, as an integer."""

    type = sa.BigInteger()
    inherit_cache = True


class IsoText(FunctionElement[str]):
    """A timestamp as ISO 8601 text without a zone, ``2024-01-31T12:30:00``."""

    type = sa.String()
    inherit_cache = True


class Quotient(FunctionElement[Decimal]):
    """``x / y`` without integer division (a zero ``y``: PostgreSQL fails, the others NULL)."""

    type = sa.Numeric()
    inherit_cache = True


class ByteOrdered(FunctionElement[Any]):
    """A value compared and sorted as Python and Arrow compare it: a string by its code
    points (its UTF-8 bytes), whatever the collation of its column.

    MySQL's default collations compare strings without case (``'a' = 'A'``, ``'a' < 'B'``)
    and pad them with spaces; the export's windows are bounded by keys and audit values
    compared in Python too, so their SQL must order them the same way. Only for
    comparisons and ``ORDER BY``: selected, it would read as bytes on MySQL.
    """

    inherit_cache = True

    def __init__(self, value: sa.ColumnElement[Any]) -> None:
        super().__init__(value)
        self.type = value.type


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def _bound(text: str, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(sa.literal(text, sa.String()), **kw)


@compiles(CharLength)
def _char_length(element: CharLength, compiler: SQLCompiler, **kw: Any) -> str:
    return f"char_length({_argument(element, compiler, **kw)})"


@compiles(CharLength, "sqlite")
def _char_length_sqlite(element: CharLength, compiler: SQLCompiler, **kw: Any) -> str:
    return f"length({_argument(element, compiler, **kw)})"


@compiles(DateOf)
def _date_of(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_argument(element, compiler, **kw)} AS DATE)"


@compiles(DateOf, "sqlite")
def _date_of_sqlite(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({_argument(element, compiler, **kw)})"


@compiles(DateTimeOf)
def _datetime_of(element: DateTimeOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_argument(element, compiler, **kw)} AS TIMESTAMP)"


@compiles(DateTimeOf, "mysql")
def _datetime_of_mysql(element: DateTimeOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_argument(element, compiler, **kw)} AS DATETIME)"


@compiles(DateTimeOf, "sqlite")
def _datetime_of_sqlite(element: DateTimeOf, compiler: SQLCompiler, **kw: Any) -> str:
    fmt = _bound("%Y-%m-%d %H:%M:%f", compiler, **kw)
    return f"strftime({fmt}, {_argument(element, compiler, **kw)})"


@compiles(TruncatedInteger)
def _truncated(element: TruncatedInteger, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(trunc({_argument(element, compiler, **kw)}) AS BIGINT)"


@compiles(TruncatedInteger, "sqlite")
def _truncated_sqlite(element: TruncatedInteger, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_argument(element, compiler, **kw)} AS INTEGER)"


@compiles(TruncatedInteger, "mysql")
def _truncated_mysql(element: TruncatedInteger, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(TRUNCATE({_argument(element, compiler, **kw)}, 0) AS SIGNED)"


@compiles(IsoText)
def _iso_text(element: IsoText, compiler: SQLCompiler, **kw: Any) -> str:
    fmt = _bound('YYYY-MM-DD"T"HH24:MI:SS', compiler, **kw)
    return f"to_char({_argument(element, compiler, **kw)}, {fmt})"


@compiles(IsoText, "sqlite")
def _iso_text_sqlite(element: IsoText, compiler: SQLCompiler, **kw: Any) -> str:
    fmt = _bound("%Y-%m-%dT%H:%M:%S", compiler, **kw)
    return f"strftime({fmt}, {_argument(element, compiler, **kw)})"


@compiles(IsoText, "mysql")
def _iso_text_mysql(element: IsoText, compiler: SQLCompiler, **kw: Any) -> str:
    fmt = _bound("%Y-%m-%dT%H:%i:%s", compiler, **kw)
    return f"DATE_FORMAT({_argument(element, compiler, **kw)}, {fmt})"


def _operands(element: Quotient, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    dividend, divisor = element.clauses.clauses
    return compiler.process(dividend, **kw), compiler.process(divisor, **kw)


@compiles(Quotient)
def _quotient(element: Quotient, compiler: SQLCompiler, **kw: Any) -> str:
    dividend, divisor = _operands(element, compiler, **kw)
    return f"(({dividend}) / CAST({divisor} AS NUMERIC))"


@compiles(Quotient, "sqlite")
def _quotient_sqlite(element: Quotient, compiler: SQLCompiler, **kw: Any) -> str:
    dividend, divisor = _operands(element, compiler, **kw)
    return f"(({dividend}) / CAST({divisor} AS REAL))"


@compiles(Quotient, "mysql")
def _quotient_mysql(element: Quotient, compiler: SQLCompiler, **kw: Any) -> str:
    dividend, divisor = _operands(element, compiler, **kw)
    return f"(({dividend}) / ({divisor}))"


@compiles(ByteOrdered)
def _byte_ordered(element: ByteOrdered, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite compares text by its bytes (collation BINARY). PostgreSQL uses its database's
    # collation: C or C.UTF-8 sort as Python does, a linguistic one (en_US) does not.
    return _argument(element, compiler, **kw)


@compiles(ByteOrdered, "mysql")
def _byte_ordered_mysql(element: ByteOrdered, compiler: SQLCompiler, **kw: Any) -> str:
    value = _argument(element, compiler, **kw)
    if not isinstance(element.type, sa.String):
        return value
    # UTF-8 bytes whatever the column's character set: their order is the code points'.
    return f"CAST(CONVERT({value} USING utf8mb4) AS BINARY)"
