"""What the product accepts from outside: integers a store holds, texts, whole documents.

Each check answers what is wrong (``ValueError``, or the fault it finds); the HTTP layer
answers it 400 (``api/request_inputs.py``)::

    parse_integer("3520")            3520
    parse_integer("٣")               ValueError: must be an integer in ASCII digits ...
    parse_integer(str(2**31))        ValueError: must be an integer ... to 2147483647
    refused_character("a\\x00b")      "\\x00"
    refused_in_document({"label": "a\\x00b"})   ("label", "holds the control character U+0000")

Integers: ASCII digits only (``int()`` takes ``"٣"`` and chokes on ``"²"`` or on more
than 4300 digits), within ``STORE_INTEGERS``. Texts: no NUL, no other control character
(C0, DEL, C1) and no lone surrogate, which neither store can keep; tab, line feed and
carriage return only where a text may have lines (a query's or a body's values, never a
path's segment).
"""

from __future__ import annotations

import math
import re
from typing import Any

STORE_INTEGERS = range(-(2**31), 2**31)
"""The integers every integer column holds on both stores: PostgreSQL's ``integer`` (ids
of jobs, groups, audit entries; counts) is 32-bit where SQLite's is 64-bit."""

_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
"""ASCII digits only (``\\d`` takes any script's digits); 20 digits bound the conversion."""
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_DOCUMENT_DEPTH = 64
"""How deep a JSON document may nest: enough for any XDM schema, far below the recursion
that serializing it would need."""


def parse_integer(text: str, bounds: range = STORE_INTEGERS) -> int:
    """The integer ``text`` spells in ASCII digits (surrounding spaces allowed), within
    ``bounds``; ``ValueError`` otherwise."""
    candidate = text.strip(" ")
    if _INTEGER.fullmatch(candidate) is None:
        raise ValueError(integer_expected(bounds))
    return checked_integer(int(candidate), bounds)


def checked_integer(value: int, bounds: range = STORE_INTEGERS) -> int:
    """``value`` if it is within ``bounds``; ``ValueError`` otherwise."""
    if value not in bounds:
        raise ValueError(integer_expected(bounds))
    return value


def integer_expected(bounds: range = STORE_INTEGERS) -> str:
    """What an integer within ``bounds`` must be, as an error message says it."""
    return f"must be an integer in ASCII digits, from {bounds.start} to {bounds.stop - 1}"


def refused_character(text: str, *, lines: bool = False) -> str | None:
    """The first character of ``text`` that no stored text may hold, if any; with
    ``lines``, tab, line feed and carriage return are allowed."""
    found = (_CONTROL_BUT_LINES if lines else _CONTROL).search(text)
    return found.group() if found else None


def refusal(character: str) -> str:
    """What is wrong with a text holding ``character``."""
    return f"holds the control character U+{ord(character):04X}"


def refused_in_document(document: Any) -> tuple[str, str] | None:
    """The place (``fieldMappings.0.source``) and the fault of a value of a parsed JSON
    document that the product refuses: a text (key or value) holding a refused
    character, a number that is not finite, or nesting deeper than ``MAX_DOCUMENT_DEPTH``.
    ``None`` when every value is acceptable."""
    # A stack, not recursion: the document's depth is what is being checked.
    pending: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while pending:
        place, value = pending.pop()
        where = ".".join(place) or "body"
        if len(place) > MAX_DOCUMENT_DEPTH:
            return where, f"nests deeper than {MAX_DOCUMENT_DEPTH} levels"
        if isinstance(value, str):
            character = refused_character(value, lines=True)
            if character is not None:
                return where, refusal(character)
        elif isinstance(value, float) and not math.isfinite(value):
            return where, "must be a finite number"
        elif isinstance(value, dict):
            for key, item in value.items():
                character = refused_character(str(key), lines=False)
                if character is not None:
                    return where, f"has a key that {refusal(character)}"
                pending.append(((*place, str(key)), item))
        elif isinstance(value, list):
            pending.extend(((*place, str(index)), item) for index, item in enumerate(value))
    return None
