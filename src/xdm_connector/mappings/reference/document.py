"""The reference's document: its sections, in order, each from the code it describes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import NullType, TypeEngine

from xdm_connector.domain.mapping_definition import FieldMapping, MappingDefinition
from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ExpressionCompiler, ValueType, check_target
from xdm_connector.expressions.ast import OPERATORS
from xdm_connector.expressions.calls import function_types
from xdm_connector.expressions.functions import SIGNATURES
from xdm_connector.expressions.grammar import MAX_DEPTH, MAX_INTEGER, MAX_LENGTH
from xdm_connector.expressions.value_types import XDM_TYPES, common_type
from xdm_connector.mappings.reference import examples
from xdm_connector.mappings.reference.examples import Example
from xdm_connector.mappings.reference.markdown import reflowed, table, words
from xdm_connector.mappings.reference.notation import (
    VALUE_TYPES,
    field_rows,
    function_types_text,
    operator_name,
    operator_types_text,
    parameter_list,
    value_text,
    value_type_text,
)
from xdm_connector.sources.schema import MAX_LINK_DEPTH, link_name

REGENERATE = "xdm-connector mappings reference > docs/mapping-language.md"

SQL_TYPES: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("BOOLEAN", sa.BOOLEAN()),
    ("SMALLINT, INTEGER, BIGINT", sa.INTEGER()),
    ("NUMERIC, DECIMAL", sa.NUMERIC()),
    ("REAL, FLOAT, DOUBLE PRECISION", sa.FLOAT()),
    ("DATE", sa.DATE()),
    ("TIMESTAMP, DATETIME", sa.TIMESTAMP()),
    ("CHAR, VARCHAR, TEXT", sa.VARCHAR()),
    ("UUID", sa.UUID()),
    ("no declared type (SQLite)", NullType()),
    ("TIME", sa.TIME()),
    ("JSON", sa.JSON()),
    ("BLOB, BYTEA", sa.LargeBinary()),
)
"""SQL types as reflection gives them, each asked of ``value_type_of`` for the reference."""

XDM_FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "date-time")


def mapping_language_reference() -> str:
    """The reference, in Markdown, ending with a newline.

    Example: ``mapping_language_reference().startswith("# The mapping language")``.
    """
    compiler = ExpressionCompiler(examples.example_source())
    parts = [
        _introduction(),
        _mapping_file(),
        _fields_and_links(compiler),
        _literals(compiler),
        _operators(compiler),
        _functions(compiler),
        _exdm(compiler),
        _types(),
        _errors_and_limits(compiler),
    ]
    return reflowed("\n\n".join(parts)) + "\n"


def _introduction() -> str:
    return f"""# The mapping language

<!-- Made from the code by `xdm-connector mappings reference`; do not edit by hand:
     change the code, then run `{REGENERATE}`. -->

A data mapping exports the records of one table or view of the source database, its
*targeting dimension*, into an XDM dataset. Each of its field mappings fills one XDM field
with a *source expression*, written in the language below. Expressions are parsed by the
product's grammar, type-checked against the source's columns and the XDM field's type, and
compiled to SQL with bound parameters: their text never reaches the database.

Every example on this page is compiled against the demo's source (`xdm-connector demo`),
and every value it shows is the one SQLite and PostgreSQL give, written as a literal
(`'text'`, `42`, `TRUE`, `NULL`), or as `2024-01-31` for a date.

- [A mapping file](#a-mapping-file)
- [Fields and links](#fields-and-links)
- [Literals](#literals)
- [Operators](#operators)
- [Functions](#functions)
- [EXDM](#exdm)
- [Types](#types)
- [Errors and limits](#errors-and-limits)"""


def _mapping_file() -> str:
    field_mapping = field_rows(FieldMapping)
    return f"""## A mapping file

A mapping is written in YAML, or in JSON when its file name ends with `.json`, and given to
`xdm-connector mappings apply --org ORG FILE` (the API's mapping calls take the same fields
as JSON). Fields other than these are refused.

```yaml
{examples.MAPPING_FILE.rstrip()}
```

{table(("field", "type", "default", "meaning"), field_rows(MappingDefinition))}

Each item of `fieldMappings`:

{table(("field", "type", "default", "meaning"), field_mapping)}"""


def _fields_and_links(compiler: ExpressionCompiler) -> str:
    names = [
        (("postalAddress_id",), "postalAddress"),
        (("postalAddressId",), "postalAddress"),
        (("postal_address_ID",), "postalAddress"),
        (("country", "zip"), "area"),
    ]
    renamed = "\n".join(
        f"- {' and '.join(f'`{column}`' for column in columns)}, to the table `{table}`: "
        f"`{link_name(columns, table)}`"
        for columns, table in names
    )
    source = examples.example_source()
    tables = [(source.table, "")] + [
        (link.target.table, f" (the link `{link.name}`)") for link in source.links
    ]
    described = "\n".join(
        f"- `{table.name}`{how}: "
        + ", ".join(f"`{column.name}` {value_type_text(column.type)}" for column in table.columns)
        for table, how in tables
    )
    sql_types = table(
        ("SQL type of the column", "value type"),
        [(name, value_type_text(sql_type)) for name, sql_type in SQL_TYPES],
    )
    return f"""## Fields and links

`@name` reads the column `name` of the targeting dimension. `[link/@name]` reads a column of
the record that a link of the targeting dimension leads to, and links chain:
`[link/link2/@name]`. A record without a linked record reads NULL there. Names are
letters, digits and `_`, not starting with a digit, and match the database's names in any
letter case (an exact match first).

A link is a foreign key (a many-to-one relation), named after its column without a
trailing `_id`, `Id` or `ID`; a foreign key of several columns is named after the table it
refers to. Two links that would share a name are told apart by the table and columns:
`<table>_<columns>`. Links are followed {MAX_LINK_DEPTH} deep at most. For example:

{renamed}

The examples on this page read the demo's tables, whose columns have these value types:

{described}

{_examples(compiler, examples.FIELDS)}

A column's value type comes from its SQL type; a column of another type cannot be read:

{sql_types}"""


def _literals(compiler: ExpressionCompiler) -> str:
    return f"""## Literals

- Strings are written between single or double quotes; the quote itself is written twice
  inside (`'it''s'`). A backslash is an ordinary character, and a string may span lines.
- Numbers have digits on both sides of their point (`0.5`, not `.5`); integers have no
  point, and are at most {MAX_INTEGER:,}. A minus sign before either is the
  negation operator.
- `TRUE`, `FALSE` and `NULL`, like every keyword and function name, are written in any
  letter case.
- There is no date literal: `ToDate` and `ToDateTime` read a string, and a string may fill
  an XDM `date` or `date-time` field as it is (it is read when the record is validated).

{_examples(compiler, examples.LITERALS)}"""


def _operators(compiler: ExpressionCompiler) -> str:
    rows = [
        (
            str(op.precedence),
            operator_name(op),
            operator_types_text(op),
            op.summary,
        )
        for op in OPERATORS
    ]
    return f"""## Operators

From the loosest (precedence 1) to the tightest: an operator of a higher precedence binds
first, and parentheses group as usual. Operators of one level group from the left, except
comparisons, which do not chain (`1 < @id < 9` is an error: join two comparisons with
`AND`).

{table(("precedence", "operator", "operand types → result", "meaning"), rows)}

An arithmetic operator, or a comparison other than `= NULL` and `!= NULL`, gives NULL when
an operand is NULL; `AND`, `OR` and `NOT` follow SQL's logic of NULL (`NULL AND FALSE` is
false, `NULL OR TRUE` is true, anything else with NULL is NULL). An `Iif` whose condition is
NULL gives its third argument. There are no comments, no `||` and no `;`.

{_examples(compiler, examples.OPERATIONS)}"""


def _functions(compiler: ExpressionCompiler) -> str:
    rows = [
        (
            f"`{signature.name}({parameter_list(signature)})`",
            function_types_text(signature, function_types(signature.name)),
            signature.summary,
        )
        for signature in SIGNATURES.values()
    ]
    lenient = [
        f"`{signature.name}`"
        for signature in SIGNATURES.values()
        if not function_types(signature.name).null_gives_null
    ]
    return f"""## Functions

Function names match in any letter case (`lower`, `LOWER` and `Lower` are one function).
NULL is taken wherever a value is, and a NULL argument makes the result NULL, except for
{words(lenient)}.

{table(("function", "argument types → result", "gives"), rows)}

{_examples(compiler, examples.CALLS)}"""


def _exdm(compiler: ExpressionCompiler) -> str:
    enum = table(
        ("value", "label"),
        [(f"`{value}`", label) for value, label in examples.EXDM_ENUM.items()],
    )
    values = json.dumps({examples.EXDM_PATH: examples.EXDM_VALUES})
    return f"""## EXDM

`EXDM(value)` maps a source value onto the enumeration of the XDM field that the field
mapping fills; it is the whole expression of its field mapping. A value equal to one of the
enumeration's values gives that value; equal to one of its labels, the label's value; equal
to a source value of the mapping's `exdmValues` for that field, the XDM value it names
(which must be one of the enumeration's values); anything else gives NULL. Comparisons
ignore the letter case (SQLite folds ASCII letters only), and the first of these that
matches wins. The result is an integer when every value of the enumeration is one, else a
string. A field without an enumeration takes `EXDM` only with `exdmValues`.

For `{examples.EXDM_PATH}`, whose enumeration is

{enum}

and with `"exdmValues": {values}`:

{_examples(compiler, examples.EXDM_CALLS)}"""


def _types() -> str:
    commons = "".join(
        f"; {left.value} with {right.value}: {common.value}"
        for left, right in itertools.combinations(VALUE_TYPES, 2)
        if (common := common_type(left, right)) is not None
    )
    rows = []
    hints = []
    for value_type in ValueType:
        cells = []
        for target in XDM_FIELD_TYPES:
            problem = check_target(value_type, target)
            cells.append("yes" if problem is None else "no")
            if problem is not None and "; " in problem:
                hints.append(f"- {value_type.value} → {target}: {problem.split('; ', 1)[1]}.")
        rows.append((value_type.value, *cells))
    containers = sorted(XDM_TYPES - set(XDM_FIELD_TYPES))
    kinds = words([f"`{value_type.value}`" for value_type in ValueType])
    return f"""## Types

An expression's value type is one of {kinds} (the type of `NULL` alone).

`Iif`'s two branches, `Coalesce`'s values and a comparison's two sides must have a *common
type*: the same type; NULL with any type: that type{commons}.

The value of an expression fills an XDM field of these types (a string is read when the
record is validated, and a value that does not read rejects the record):

{table(("expression", *XDM_FIELD_TYPES), rows)}

Where a type is refused, the error says what to write:

{chr(10).join(hints)}

{words([f"`{name}`" for name in containers])} fields take no expression: map their
fields one by one."""


def _errors_and_limits(compiler: ExpressionCompiler) -> str:
    source_length = FieldMapping.model_json_schema()["properties"]["source"]["maxLength"]
    rows = []
    for text in examples.ERRORS:
        try:
            compiler.compile(text)
        except ExpressionError as exc:
            rows.append((f"`{text}`", str(exc)))
        else:
            raise AssertionError(f"{text!r} is shown as an error but compiles")
    return f"""## Errors and limits

A wrong expression is refused with the place of the problem: in the editor as it is
typed, and when the mapping is previewed or published.

{table(("expression", "error"), rows)}

An expression nests at most {MAX_DEPTH} levels deep and is at most {MAX_LENGTH:,} characters
long; a field mapping's `source` is at most {source_length:,}."""


def _examples(compiler: ExpressionCompiler, chosen: Iterable[Example]) -> str:
    """A table of examples, each with its type as the compiler finds it."""
    rows = []
    for example in chosen:
        compiled = examples.compile_example(compiler, example)
        rows.append(
            (f"`{example.text}`", compiled.type.value, value_text(example.gives), example.note)
        )
    return table(("example", "type", "gives", "note"), rows)
