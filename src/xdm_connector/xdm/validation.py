"""Record validation against a dataset's schema, as the platform checks at ingestion.

A :class:`RecordValidator` compiles the schema once (a draft-06 validator with format
checks for ``date``, ``date-time``, ``email``, ``uri`` and ``uri-reference``) and adds the
rules of a profile dataset:

- a record needs at least one identity in its ``identityMap`` with ``"primary": true``; a
  record without any identity fails too (the rule is skipped when the schema has no
  ``identityMap``);
- a record may not exceed 100 KB (102,400 bytes of compact JSON).

Each problem is a :class:`RecordError` at an XED slash path: ``/person/birthDate``, or the
missing field itself for a ``required`` one. Unknown keywords (``meta:*``) are ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from jsonschema import Draft6Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry

from xdm_connector.xdm.schema import XedSchema

PROFILE_RECORD_LIMIT = 102_400
_ENUM_SHOWN = 8

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
SPACES = "\\t-\\r\\x1c-\\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The characters Python's ``\\s`` matches in text, as the body of a character class that
RE2 (Arrow's ``match_substring_regex``) reads the same way: its own ``\\s`` is ASCII only."""
EMAIL_PATTERN = rf"[^@{SPACES}]+@[^@{SPACES}.]+(\.[^@{SPACES}.]+)+"
"""An email address, matched whole: ``_is_email`` here, and the columnar checks with RE2."""
URI_REFERENCE_PATTERN = rf"[^{SPACES}]*"
"""A URI reference, matched whole: any text without white space."""
_EMAIL = re.compile(EMAIL_PATTERN)
_URI_REFERENCE = re.compile(URI_REFERENCE_PATTERN)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_WHITESPACE = re.compile(rf"[{SPACES}]")


@dataclass(frozen=True)
class RecordError:
    """Why a record is refused: ``RecordError("/person/gender", "m", "not one of ...")``."""

    path: str
    value: object
    reason: str


def format_checker() -> FormatChecker:
    """The string formats the platform checks; any other format is accepted as is."""
    checker = FormatChecker(formats=())
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    checker.checks("email")(_is_email)
    checker.checks("uri")(_is_uri)
    checker.checks("uri-reference")(_is_uri_reference)
    return checker


class RecordValidator:
    """Validates records of one dataset; build it once per schema and reuse it.

    With a profile schema, ``validator.errors({"person": {"birthDate": "1990-02-30"}})``
    is ``[RecordError("/person/birthDate", "1990-02-30", "not a valid date")]``.
    """

    def __init__(self, schema: XedSchema) -> None:
        self.schema = schema
        # An empty registry: a stray $ref fails instead of being fetched.
        self._validator = Draft6Validator(
            schema.json_schema, format_checker=format_checker(), registry=Registry()
        )
        self._check_identities = schema.is_profile and schema.field_at("/identityMap") is not None

    def errors(self, record: Mapping[str, Any]) -> list[RecordError]:
        """Every reason to refuse ``record``; empty when it is valid."""
        found: list[RecordError] = []
        if self.schema.is_profile:
            found.extend(_size_errors(record))
        for error in self._validator.iter_errors(record):
            found.extend(_record_errors(error))
        if self._check_identities:
            found.extend(_identity_errors(record.get("identityMap")))
        unique = {(error.path, error.reason): error for error in found}
        return sorted(unique.values(), key=lambda e: e.path)

    def is_valid(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` would be accepted."""
        return not self.errors(record)


def _record_errors(error: ValidationError) -> list[RecordError]:
    path = "/" + "/".join(str(step) for step in error.absolute_path)
    value: Any = error.instance
    keyword_value: Any = error.validator_value
    match error.validator:
        case "required":
            # One error per missing name, each listing them all: deduplicated by the caller.
            return [
                RecordError(f"{path.rstrip('/')}/{name}", None, "required field is missing")
                for name in keyword_value
                if name not in value
            ]
        case "type":
            wanted = (
                " or ".join(keyword_value) if isinstance(keyword_value, list) else keyword_value
            )
            return [RecordError(path, value, f"expected {wanted}, got {_json_kind(value)}")]
        case "format":
            return [RecordError(path, value, f"not a valid {keyword_value}")]
        case "enum":
            allowed = [repr(v) for v in keyword_value[:_ENUM_SHOWN]]
            more = ", ..." if len(keyword_value) > _ENUM_SHOWN else ""
            return [RecordError(path, value, f"not one of {', '.join(allowed)}{more}")]
        case _:
            return [RecordError(path, value, error.message)]


def _size_errors(record: Mapping[str, Any]) -> list[RecordError]:
    try:
        size = len(orjson.dumps(record))
    except TypeError as exc:
        return [RecordError("/", None, f"the record is not serializable as JSON: {exc}")]
    if size <= PROFILE_RECORD_LIMIT:
        return []
    reason = f"the record is {size} bytes; a profile record may take {PROFILE_RECORD_LIMIT}"
    return [RecordError("/", size, reason)]


def _identity_errors(identity_map: object) -> list[RecordError]:
    if not isinstance(identity_map, Mapping):
        # A wrong type is the schema's error; a missing map still lacks a primary identity.
        return _no_primary_identity(identity_map) if identity_map is None else []
    for identities in identity_map.values():
        if isinstance(identities, list) and any(
            isinstance(item, Mapping) and item.get("primary") is True for item in identities
        ):
            return []
    return _no_primary_identity(identity_map)


def _no_primary_identity(identity_map: object) -> list[RecordError]:
    reason = 'a profile record needs an identity with "primary": true'
    return [RecordError("/identityMap", identity_map, reason)]


def _json_kind(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int():
            return "integer"
        case float():
            return "number"
        case str():
            return "string"
        case list() | tuple():
            return "array"
        case Mapping():
            return "object"
        case _:
            return type(value).__name__


def _is_date(value: object) -> bool:
    return _is_time_text(value, _DATE, dt.date.fromisoformat)


def _is_date_time(value: object) -> bool:
    return _is_time_text(value, _DATE_TIME, lambda text: dt.datetime.fromisoformat(text.upper()))


def _is_time_text(value: object, pattern: re.Pattern[str], parse: Callable[[str], object]) -> bool:
    """Whether a string matches ``pattern`` and ``parse`` takes it (a real day and time);
    a value of another type is the type check's to refuse."""
    if not isinstance(value, str):
        return True
    if not pattern.fullmatch(value):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        dt.datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or _EMAIL.fullmatch(value) is not None


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _WHITESPACE.search(value):
        return False
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return False
    return _SCHEME.fullmatch(scheme) is not None


def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or _URI_REFERENCE.fullmatch(value) is not None
