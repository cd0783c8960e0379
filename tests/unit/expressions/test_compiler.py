"""Compilation against a hand-built resource: types, errors by place, bound parameters, joins."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import CompiledExpression, ExpressionCompiler, ValueType
from xdm_connector.expressions.grammar import MAX_DEPTH
from xdm_connector.sources.schema import Resource

DIALECTS: list[Dialect] = [postgresql.dialect(), sqlite.dialect(), mysql.dialect()]


def sql_of(query: sa.ClauseElement, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    compiled = query.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


def error_of(compiler: ExpressionCompiler, text: str, **kwargs: Any) -> str:
    with pytest.raises(ExpressionError) as caught:
        compiler.compile(text, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "value_type", "links"),
    [
        ("@birthDate", ValueType.DATE, ()),
        ("@blackList", ValueType.BOOLEAN, ()),
        ("@created", ValueType.DATETIME, ()),
        ("@email", ValueType.STRING, ()),
        ("@score", ValueType.NUMBER, ()),
        ("@token", ValueType.STRING, ()),
        (
            "Iif([postalAddress/@addrDefined]=0, 'incomplete', 'active')",
            ValueType.STRING,
            (("postalAddress",),),
        ),
        ("Iif(@age=0, 'in', 'out')", ValueType.STRING, ()),
        ("[postalAddress/country/@label]", ValueType.STRING, (("postalAddress", "country"),)),
        ("@EMAIL", ValueType.STRING, ()),
        ("[POSTALADDRESS/@ADDRQUALITY]", ValueType.STRING, (("postalAddress",),)),
        ("@age / 2", ValueType.NUMBER, ()),
        ("@age * 2 - 1", ValueType.INTEGER, ()),
        ("@age + 1.5", ValueType.NUMBER, ()),
        ("@email + '!'", ValueType.STRING, ()),
        ("@age + null", ValueType.INTEGER, ()),
        ("Iif(@blackList, @created, @birthDate)", ValueType.DATETIME, ()),
        ("Iif(@blackList, null, 1.5)", ValueType.NUMBER, ()),
        ("Coalesce(@age, @score, 0)", ValueType.NUMBER, ()),
        ("Coalesce(@email)", ValueType.STRING, ()),
        ("IsNull(@email) OR NOT @blackList AND @age >= 18", ValueType.BOOLEAN, ()),
        ("@created > ToDate('2024-01-01')", ValueType.BOOLEAN, ()),
        ("@email = null", ValueType.BOOLEAN, ()),
        ("null != @email", ValueType.BOOLEAN, ()),
        ("Length(Trim(Upper(Lower(@email))))", ValueType.INTEGER, ()),
        ("Substring(@email, 1, 3)", ValueType.STRING, ()),
        ("Concat(@email, '-', ToString(@age))", ValueType.STRING, ()),
        ("ToString(@blackList)", ValueType.STRING, ()),
        ("ToString(@created)", ValueType.STRING, ()),
        ("ToInteger(@score)", ValueType.INTEGER, ()),
        ("ToInteger('42')", ValueType.INTEGER, ()),
        ("ToDateTime(@birthDate)", ValueType.DATETIME, ()),
        ("Year(@created) + Month(@birthDate) + Day(@created)", ValueType.INTEGER, ()),
        ("-@score", ValueType.NUMBER, ()),
        ("null", ValueType.NULL, ()),
        ("Lower(null)", ValueType.STRING, ()),
    ],
)
def test_compiles_with_type_and_links(
    compiler: ExpressionCompiler, text: str, value_type: ValueType, links: tuple[Any, ...]
) -> None:
    compiled = compiler.compile(text)
    assert compiled.text == text
    assert compiled.type is value_type
    assert compiled.links == links
    assert not compiled.is_constant or "@" not in text
    for dialect in DIALECTS:
        sql_of(compiler.select({"value": compiled}), dialect)


def test_constant_expressions(compiler: ExpressionCompiler) -> None:
    assert compiler.compile("Lower('A') + 'b'").is_constant
    assert not compiler.compile("Lower(@email)").is_constant


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Iif(@age=1, 1, @emial)",
            "line 1, column 16: unknown field @emial (did you mean @email?)",
        ),
        ("[postalAdress/@addrQuality]", "line 1, column 2: unknown link postalAdress of profile"),
        ("[postalAdress/@addrQuality]", "(did you mean postalAddress?)"),
        (
            "[postalAddress/@addrQualty]",
            "line 1, column 16: unknown field @addrQualty of postalAddress (did you mean "
            "@addrQuality?)",
        ),
        (
            "[postalAddress/cuntry/@label]",
            "line 1, column 16: unknown link cuntry of postalAddress",
        ),
        ("@zzz", "line 1, column 1: unknown field @zzz"),
        ("@payload", "line 1, column 1: field @payload has the SQL type JSON()"),
        ("Lower(@age)", "line 1, column 7: Lower needs string, got integer"),
        ("Substring(@email, '1', 2)", "line 1, column 19: Substring needs integer, got string"),
        ("Year(@email)", "line 1, column 6: Year needs date or datetime, got string"),
        ("ToDate(@age)", "line 1, column 8: ToDate needs date or datetime or string, got integer"),
        ("Concat(@email, @age)", "line 1, column 16: Concat needs string, got integer"),
        ("Iif(@age, 1, 2)", "line 1, column 5: Iif's condition needs boolean, got integer"),
        ("Iif(@blackList, 'a', 2)", "line 1, column 17: Iif's branches have incompatible types"),
        ("Coalesce(@email, 1)", "line 1, column 18: Coalesce mixes string and integer"),
        ("@email + 1", "line 1, column 8: cannot add string and integer; ToString(...)"),
        ("@blackList * 2", "line 1, column 12: cannot multiply boolean and integer"),
        ("@email = @age", "line 1, column 8: cannot compare string with integer using '='"),
        ("@age < null", "line 1, column 6: cannot compare integer with null using '<'"),
        ("@blackList > false", "line 1, column 12: cannot compare boolean with boolean"),
        ("@birthDate = '2024-01-01'", "line 1, column 12: cannot compare date with string"),
        ("NOT @age", "line 1, column 5: NOT needs a boolean, got integer"),
        ("@blackList AND @email", "line 1, column 16: AND needs a boolean, got string"),
        ("-@email", "line 1, column 1: cannot negate string"),
        ("Lower(EXDM(@email))", "line 1, column 7: EXDM must be the whole expression"),
        ("\n  Upper(@age)", "line 2, column 9: Upper needs string, got integer"),
    ],
)
def test_errors_say_where(compiler: ExpressionCompiler, text: str, message: str) -> None:
    assert message in error_of(compiler, text)


def test_target_type_is_checked(compiler: ExpressionCompiler) -> None:
    assert compiler.compile("@blackList", target_type="boolean").type is ValueType.BOOLEAN
    assert compiler.compile("@email", target_type="date-time").type is ValueType.STRING
    message = error_of(compiler, "@age", target_type="boolean")
    assert message == "line 1, column 1: an integer expression cannot fill an XDM boolean field"


SQL_INJECTIONS = [
    "x'; DROP TABLE profile; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM profile --",
    "%(evil)s",
    "?x?",
    'quote " and \\ backslash',
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("hostile", SQL_INJECTIONS)
def test_literals_are_bound_parameters(
    compiler: ExpressionCompiler, dialect: Dialect, hostile: str
) -> None:
    quoted = "'" + hostile.replace("'", "''") + "'"
    text = f"Iif(@email = {quoted}, Concat({quoted}, 'marker-7'), Lower({quoted}))"
    compiled = compiler.compile(text)
    sql, params = sql_of(compiler.select({"value": compiled}), dialect)
    assert hostile not in sql
    assert "marker-7" not in sql
    assert list(params.values()).count(hostile) == 3
    assert "marker-7" in params.values()


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda dialect: dialect.name)
def test_numbers_and_booleans_are_bound_too(compiler: ExpressionCompiler, dialect: Dialect) -> None:
    compiled = compiler.compile("Iif(@blackList = TRUE AND @age > 12345, 67.89, -424242)")
    sql, params = sql_of(compiler.select({"value": compiled}), dialect)
    for text in ("12345", "67.89", "424242"):
        assert text not in sql
    assert {True, 12345, Decimal("67.89"), 424242} <= set(params.values())


def test_null_comparisons_become_is_null(compiler: ExpressionCompiler) -> None:
    sql, _ = sql_of(compiler.compile("@email = NULL").column, postgresql.dialect())
    assert "IS NULL" in sql
    sql, _ = sql_of(compiler.compile("NULL <> @email").column, postgresql.dialect())
    assert "IS NOT NULL" in sql


@pytest.mark.parametrize(
    ("dialect", "fragments"),
    [
        (sqlite.dialect(), ["length(", "date(", "strftime(", "CAST(", "AS REAL"]),
        (postgresql.dialect(), ["char_length(", "AS DATE)", "to_char(", "trunc(", "AS NUMERIC"]),
        (mysql.dialect(), ["char_length(", "AS DATETIME)", "DATE_FORMAT(", "TRUNCATE("]),
    ],
    ids=["sqlite", "postgresql", "mysql"],
)
def test_functions_per_dialect(
    compiler: ExpressionCompiler, dialect: Dialect, fragments: list[str]
) -> None:
    columns = {
        "length": compiler.compile("Length(@email)"),
        "date": compiler.compile("ToDate(@created)"),
        "datetime": compiler.compile("ToDateTime(@birthDate)"),
        "text": compiler.compile("ToString(@created)"),
        "integer": compiler.compile("ToInteger(@score)"),
        "quotient": compiler.compile("@age / 7"),
    }
    sql, params = sql_of(compiler.select(columns), dialect)
    for fragment in fragments:
        assert fragment in sql
    assert 7 in params.values()


def test_exdm_compiles_to_a_case_of_bound_values(compiler: ExpressionCompiler) -> None:
    compiled = compiler.compile(
        "EXDM([postalAddress/@addrQuality])",
        exdm_enum={"valid": "Valid address", "bad": "Bad address"},
        exdm_values={"KO": "BAD"},
        target_type="string",
    )
    assert compiled.type is ValueType.STRING
    assert compiled.links == (("postalAddress",),)
    sql, params = sql_of(compiled.column, postgresql.dialect())
    # the subject as it is first, then lowered once a row; each value lowered by the
    # database too, once a query
    assert sql.startswith('CASE "postalAddress_1"."addrQuality" WHEN ')
    assert 'ELSE CASE lower("postalAddress_1"."addrQuality") WHEN (SELECT lower(' in sql
    assert sql.count('"addrQuality"') == 2
    for text in ("valid", "Valid address", "KO", "bad"):
        assert f"'{text}'" not in sql
        assert text in params.values()
    integers = compiler.compile("EXDM(@age)", exdm_enum={1: "one", 2: "two"})
    assert integers.type is ValueType.INTEGER


def test_exdm_errors(compiler: ExpressionCompiler) -> None:
    assert "EXDM needs the XDM field's enumeration" in error_of(compiler, "EXDM(@email)")
    message = error_of(
        compiler, "EXDM(@email)", exdm_enum={"valid": "Valid"}, exdm_values={"x": "nope"}
    )
    assert "EXDM maps 'x' to 'nope', which is not a value" in message
    message = error_of(compiler, "EXDM(@blackList)", exdm_enum={"valid": "Valid"})
    assert "line 1, column 6: EXDM needs a string or an integer, got boolean" in message
    only_values = compiler.compile("EXDM(@email)", exdm_values={"a": "alpha"})
    assert only_values.type is ValueType.STRING


def test_select_joins_each_link_path_once(compiler: ExpressionCompiler) -> None:
    columns = {
        "status": compiler.compile("Iif([postalAddress/@addrDefined]=0, 'no', 'yes')"),
        "quality": compiler.compile("[postalAddress/@addrQuality]"),
        "country": compiler.compile("[postalAddress/country/@label]"),
        "email": compiler.compile("@email"),
    }
    sql, _ = sql_of(compiler.select(columns), sqlite.dialect())
    assert sql.count("LEFT OUTER JOIN") == 2
    sql, _ = sql_of(compiler.select({"email": columns["email"]}), sqlite.dialect())
    assert "JOIN" not in sql
    assert [column.name for column in compiler.key_columns] == ["id"]
    assert compiler.root.name == "profile"


def test_select_refuses_foreign_links(compiler: ExpressionCompiler, resource: Resource) -> None:
    other = ExpressionCompiler(resource).compile("[postalAddress/@addrQuality]")
    with pytest.raises(ValueError, match="another compiler"):
        compiler.select({"quality": other})
    with pytest.raises(ValueError, match="at least one column"):
        compiler.select({})


def test_deepest_expression_compiles_everywhere(compiler: ExpressionCompiler) -> None:
    depth = MAX_DEPTH
    assert "nests deeper" in error_of(compiler, "@age" + " + 1" * (depth + 1))
    assert "nests deeper" in error_of(
        compiler, "Lower(" * (depth + 1) + "@email" + ")" * (depth + 1)
    )
    lowers = "Lower(" * depth + "@email" + ")" * depth
    texts = (
        lowers,
        "@age" + " + 1" * depth,
        "-" * depth + "@age",
        "Length(ToString(" * 24 + "@age" + "))" * 24,
    )
    for text in texts:
        compiled: CompiledExpression = compiler.compile(text)
        for dialect in DIALECTS:
            sql_of(compiler.select({"value": compiled}), dialect)
