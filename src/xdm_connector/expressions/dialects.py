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
ByteOrdered       ``x COLLATE "C"`` [2]         ``x``                        ``CAST(... AS BINARY)`` [2]
================  ============================  ===========================  ===================

[1] ``YYYY-MM-DD HH:MM:SS.SSS``, which SQLAlchemy's SQLite ``DateTime`` reads back.
[2] For a string ``x`` (on MySQL ``CAST(CONVERT(x USING utf8mb4) AS BINARY)``); any other
    ``x`` as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
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


# How each dialect spells the constructs of one argument (``{x}``), some with a format
# string (``{fmt}``, bound as a parameter); the dialect ``None`` is the default spelling.
_SPELLINGS: dict[tuple[type[FunctionElement[Any]], str | None], tuple[str, str | None]] = {
    (CharLength, None): ("char_length({x})", None),
    (CharLength, "sqlite"): ("length({x})", None),
    (DateOf, None): ("CAST({x} AS DATE)", None),
    (DateOf, "sqlite"): ("date({x})", None),
    (DateTimeOf, None): ("CAST({x} AS TIMESTAMP)", None),
    (DateTimeOf, "mysql"): ("CAST({x} AS DATETIME)", None),
    (DateTimeOf, "sqlite"): ("strftime({fmt}, {x})", "%Y-%m-%d %H:%M:%f"),
    (TruncatedInteger, None): ("CAST(trunc({x}) AS BIGINT)", None),
    (TruncatedInteger, "sqlite"): ("CAST({x} AS INTEGER)", None),
    (TruncatedInteger, "mysql"): ("CAST(TRUNCATE({x}, 0) AS SIGNED)", None),
    (IsoText, None): ("to_char({x}, {fmt})", 'YYYY-MM-DD"T"HH24:MI:SS'),
    (IsoText, "sqlite"): ("strftime({fmt}, {x})", "%Y-%m-%dT%H:%M:%S"),
    (IsoText, "mysql"): ("DATE_FORMAT({x}, {fmt})", "%Y-%m-%dT%H:%i:%s"),
}


def _spelling(template: str, fmt: str | None) -> Callable[..., str]:
    def render(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        if fmt is None:
            return template.format(x=_argument(element, compiler, **kw))
        bound = _bound(fmt, compiler, **kw)
        return template.format(fmt=bound, x=_argument(element, compiler, **kw))

    return render


for (_construct, _dialect), (_template, _fmt) in _SPELLINGS.items():
    compiles(_construct, *([] if _dialect is None else [_dialect]))(_spelling(_template, _fmt))


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
    # SQLite compares text by its bytes (collation BINARY).
    return _argument(element, compiler, **kw)


def _string_ordered(element: ByteOrdered, compiler: SQLCompiler, spelling: str, **kw: Any) -> str:
    """``element``'s value, in ``spelling`` (``{value}`` in it) when it is a string."""
    value = _argument(element, compiler, **kw)
    return spelling.format(value=value) if isinstance(element.type, sa.String) else value


@compiles(ByteOrdered, "postgresql")
def _byte_ordered_postgresql(element: ByteOrdered, compiler: SQLCompiler, **kw: Any) -> str:
    # A column's or database's linguistic collation (en_US, ICU) orders otherwise than
    # Python; "C" compares the UTF-8 bytes, whose order is the code points'.
    return _string_ordered(element, compiler, '(({value}) COLLATE "C")', **kw)


@compiles(ByteOrdered, "mysql")
def _byte_ordered_mysql(element: ByteOrdered, compiler: SQLCompiler, **kw: Any) -> str:
    # UTF-8 bytes whatever the column's character set: their order is the code points'.
    return _string_ordered(
        element, compiler, "CAST(CONVERT({value} USING utf8mb4) AS BINARY)", **kw
    )
