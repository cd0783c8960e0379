"""The examples of the mapping language's reference, and the source they are written for.

Every example is compiled when the reference is made, against :func:`example_source`: the
demo's ``profile`` table and the ``postalAddress`` it links to, column for column (a test
compares them with the demo's database). An example that needs no record says what it
gives; the tests run it on SQLite and PostgreSQL and compare.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa

from xdm_connector.expressions import CompiledExpression, ExpressionCompiler
from xdm_connector.sources.schema import Link, Resource


class Depends(Enum):
    """What an example gives when its value comes from the record read."""

    ON_THE_RECORD = "depends on the record"


ON_THE_RECORD = Depends.ON_THE_RECORD


@dataclass(frozen=True)
class Example:
    """An expression, what it gives (a Python value, NULL as ``None``, or ``ON_THE_RECORD``),
    and why it is shown."""

    text: str
    gives: object
    note: str = ""


def example_source() -> Resource:
    """The demo's ``profile`` table with its link ``postalAddress``, described without a
    database (the demo builds them in SQLite: ``demo/source.py``)."""
    metadata = sa.MetaData()
    address = sa.Table(
        "postalAddress",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        *_strings("line1", "line2", "city", "zipCode", "stateCode", "countryCode"),
        sa.Column("addrDefined", sa.Boolean),
        *_strings("addrQuality"),
    )
    profile = sa.Table(
        "profile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        *_strings("email", "firstName", "middleName", "lastName"),
        sa.Column("birthDate", sa.Date),
        *_strings("gender", "mobilePhone", "phone"),
        *(
            sa.Column(name, sa.Boolean)
            for name in ("blackList", "blackListEmail", "blackListMobile")
        ),
        sa.Column("postalAddress_id", sa.Integer),
        sa.Column("created", sa.DateTime),
        sa.Column("lastModified", sa.DateTime),
    )
    address_resource = Resource(address, ("id",), ())
    link = Link("postalAddress", ("postalAddress_id",), ("id",), address_resource)
    return Resource(profile, ("id",), (link,))


def compile_example(compiler: ExpressionCompiler, example: Example) -> CompiledExpression:
    """``example`` compiled as the reference compiles it: an ``EXDM`` as if it filled
    ``/person/gender`` in the demo's mapping."""
    return compiler.compile(example.text, exdm_enum=EXDM_ENUM, exdm_values=EXDM_VALUES)


def _strings(*names: str) -> list[sa.Column[str]]:
    return [sa.Column(name, sa.String) for name in names]


FIELDS = (
    Example("@email", ON_THE_RECORD, "the `email` column of `profile`"),
    Example("@EMAIL", ON_THE_RECORD, "the same column: names match in any letter case"),
    Example(
        "[postalAddress/@city]",
        ON_THE_RECORD,
        "`city` of the profile's `postalAddress`; NULL when it has none",
    ),
)

LITERALS = (
    Example("'active'", "active", "a string"),
    Example('"active"', "active", "the same string"),
    Example("'it''s'", "it's", "a quote inside a string is written twice"),
    Example("42", 42, "an integer"),
    Example("-7", -7, "a minus sign is the negation operator"),
    Example("4.25", 4.25, "a number: digits on both sides of the point"),
    Example("TRUE", True, "a boolean"),
    Example("false", False, "keywords in any letter case"),
    Example("NULL", None, "no value"),
    Example("ToDate('2024-01-31')", dt.date(2024, 1, 31), "a date, from a string"),
    Example(
        "ToDateTime('2024-01-31 12:30:00')",
        dt.datetime(2024, 1, 31, 12, 30),
        "a date-time, from a string",
    ),
)

OPERATIONS = (
    Example("1 + 2 * 3", 7, "`*` binds tighter than `+`"),
    Example("(1 + 2) * 3", 9, "parentheses group"),
    Example("7 - 2 - 1", 4, "one level groups to the left"),
    Example("7 / 2", 3.5, "`/` divides exactly"),
    Example("'Jane' + ' ' + 'Doe'", "Jane Doe", "`+` joins strings"),
    Example("1 + NULL", None, "NULL makes an arithmetic result NULL"),
    Example("NULL AND FALSE", False, "SQL's logic of NULL"),
    Example("NULL OR TRUE", True, "SQL's logic of NULL"),
    Example("@firstName + ' ' + @lastName", ON_THE_RECORD, "NULL when either name is"),
    Example(
        "[postalAddress/@addrDefined] = 0",
        ON_THE_RECORD,
        "a boolean compares with 0 and 1, as the original stored booleans",
    ),
    Example("@middleName = NULL", ON_THE_RECORD, "whether the profile has no middle name"),
    Example("NOT @blackList AND @email != NULL", ON_THE_RECORD, "`NOT` binds tighter than `AND`"),
    Example("@birthDate < ToDate('2000-01-01')", ON_THE_RECORD, "dates compare"),
)

CALLS = (
    Example("Iif(2 > 1, 'yes', 'no')", "yes"),
    Example("Iif(NULL, 'yes', 'no')", "no", "a NULL condition is not true"),
    Example("Iif(@blackListEmail = 0, 'in', 'out')", ON_THE_RECORD),
    Example("lower('Alice@Example.ORG')", "alice@example.org", "names in any letter case"),
    Example("Upper('fr')", "FR"),
    Example("Trim('  Carol ')", "Carol"),
    Example("Concat('a', 'b', 'c')", "abc"),
    Example("Concat('a', NULL)", None, "NULL, like every function but three"),
    Example("Substring('abcdef', 2, 3)", "bcd"),
    Example("Length('Hauptstraße')", 11, "characters, not bytes"),
    Example("Coalesce(NULL, 2.5, 3)", 2.5, "the common type of 2.5 and 3 is number"),
    Example("Coalesce(@mobilePhone, @phone, 'none')", ON_THE_RECORD),
    Example("IsNull(NULL)", True),
    Example("ToString(TRUE)", "true"),
    Example("ToString(42)", "42"),
    Example("ToString(ToDate('2024-01-31'))", "2024-01-31"),
    Example("ToString(ToDateTime('2024-01-31 12:30:00'))", "2024-01-31T12:30:00"),
    Example("ToString(@id)", ON_THE_RECORD, "a key as the text XDM's `_id` takes"),
    Example("ToInteger(-2.7)", -2, "truncated toward zero"),
    Example("ToInteger(TRUE)", 1),
    Example("ToInteger('42')", 42),
    Example("ToDate(ToDateTime('2024-01-31 12:30:00'))", dt.date(2024, 1, 31)),
    Example("ToDateTime(ToDate('2024-01-31'))", dt.datetime(2024, 1, 31)),
    Example("Year(@birthDate)", ON_THE_RECORD),
    Example("Month(ToDate('2024-01-31'))", 1),
    Example("Day(ToDateTime('2024-01-31 12:30:00'))", 31),
)

EXDM_PATH = "/person/gender"
EXDM_ENUM: dict[object, str] = {
    "male": "Male",
    "female": "Female",
    "not_specified": "Not Specified",
    "non_specific": "Non-specific",
}
"""The enumeration of the XDM field ``/person/gender``: value → label."""
EXDM_VALUES = {"unknown": "not_specified"}
"""The demo mapping's ``exdmValues`` for ``/person/gender``: source value → XDM value."""

EXDM_CALLS = (
    Example("EXDM('female')", "female", "a value of the enumeration"),
    Example("EXDM('FEMALE')", "female", "in any letter case"),
    Example("EXDM('Not Specified')", "not_specified", "a label of the enumeration"),
    Example("EXDM('unknown')", "not_specified", "a source value of `exdmValues`"),
    Example("EXDM('robot')", None, "anything else"),
    Example("EXDM(@gender)", ON_THE_RECORD, "as a mapping writes it"),
)

EXAMPLES = FIELDS + LITERALS + OPERATIONS + CALLS + EXDM_CALLS

ERRORS = ("Lowr(@email)", "@emial", "[address/@city]", "1 < @id < 9", "@email + 1")
"""Expressions the reference shows with the errors they get."""

MAPPING_FILE = """\
id: XDM44
label: Profiles to Platform
targetingDimension: profile          # a table or view of the source database
dataset: profiles
auditFields: ["@lastModified"]       # when a record last changed
mapToXdmArray: true                  # allows the paths into identityMap's array below
intervalMinutes: 15
rejectedThresholdPercent: 5
exdmValues:
  /person/gender: {unknown: not_specified}
fieldMappings:
  - {source: "ToString(@id)", xdm: "/_id"}
  - {source: "@email", xdm: "/personalEmail/address"}
  - {source: "Trim(@firstName)", xdm: "/person/name/firstName"}
  - {source: "EXDM(@gender)", xdm: "/person/gender"}
  - {source: "@birthDate", xdm: "/person/birthDate"}
  - {source: "[postalAddress/@city]", xdm: "/homeAddress/city"}
  - {source: "Iif([postalAddress/@addrDefined] = 0, 'incomplete', 'active')", xdm: "/homeAddress/status"}
  - {source: "Iif(@blackListEmail = 0, 'in', 'out')", xdm: "/optInOut/_channels/email"}
  - {source: "@email", xdm: "/identityMap/Email/0/id"}
  - {source: "true", xdm: "/identityMap/Email/0/primary"}
"""
"""A mapping file of the demo's source and dataset (a test publishes it there)."""
