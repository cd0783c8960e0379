"""What the product accepts from outside: integers, texts and documents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from xdm_connector.inputs import (
    MAX_DOCUMENT_DEPTH,
    STORE_INTEGERS,
    checked_integer,
    parse_integer,
    refused_character,
    refused_in_document,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("3520", 3520), (" 7 ", 7), ("-1", -1), ("+2", 2), ("0", 0), ("2147483647", 2**31 - 1)],
)
def test_an_integer_in_ascii_digits_is_read(text: str, value: int) -> None:
    assert parse_integer(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "²",
        "١٢",
        "٣",
        "３",
        "1" * 5000,
        str(2**31),
        str(-(2**31) - 1),
        str(2**63),
        "",
        " ",
        "1.5",
        "1e3",
        "3_000",
        "0x10",
        "3\n",
        "\t3",
        "3\x00",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ASCII digits, from -2147483648 to 2147483647"):
        parse_integer(text)


def test_the_bounds_are_those_of_a_postgresql_integer() -> None:
    assert (STORE_INTEGERS.start, STORE_INTEGERS.stop - 1) == (-(2**31), 2**31 - 1)
    assert checked_integer(2**31 - 1) == 2**31 - 1
    with pytest.raises(ValueError, match="to 2147483647"):
        checked_integer(2**31)
    assert parse_integer("9", range(1, 10)) == 9
    with pytest.raises(ValueError, match="from 1 to 9"):
        parse_integer("10", range(1, 10))


@pytest.mark.parametrize(
    ("text", "lines", "refused"),
    [
        ("XDM44", False, None),
        ("Profils à l'été ²", False, None),
        ("a\x00b", True, "\x00"),
        ("XDM44\n", False, "\n"),
        ("two\nlines\r\n\tindented", True, None),
        ("\x1b[31m", True, "\x1b"),
        ("\x7f", True, "\x7f"),
        ("next\x85line", True, "\x85"),
        ("\ud800", True, "\ud800"),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused(
    text: str, lines: bool, refused: str | None
) -> None:
    assert refused_character(text, lines=lines) == refused


@pytest.mark.parametrize(
    ("document", "fault"),
    [
        ({"id": "XDM44", "fieldMappings": [{"source": "@email\n", "xdm": "/a"}]}, None),
        ({"label": "a\x00b"}, ("label", "holds the control character U+0000")),
        (
            {"fieldMappings": [{"source": "@email"}, {"source": "\ud800"}]},
            ("fieldMappings.1.source", "holds the control character U+D800"),
        ),
        (
            {"custom": {"a\x00": {"type": "string"}}},
            ("custom", "has a key that holds the control character U+0000"),
        ),
        ({"custom": {"x": float("inf")}}, ("custom.x", "must be a finite number")),
        ([float("nan")], ("0", "must be a finite number")),
        ("\x00", ("body", "holds the control character U+0000")),
        ({"requestId": 2**63, "big": 10**40, "ok": 1.5, "none": None, "yes": True}, None),
    ],
)
def test_a_document_is_checked_value_by_value(document: Any, fault: tuple[str, str] | None) -> None:
    assert refused_in_document(document) == fault


def test_a_document_nested_too_deep_is_refused_without_recursion() -> None:
    depth = 900
    document = json.loads("[" * depth + "]" * depth)
    where, what = refused_in_document(document) or ("", "")
    assert what == f"nests deeper than {MAX_DOCUMENT_DEPTH} levels"
    assert where.count(".") == MAX_DOCUMENT_DEPTH
    shallow = json.loads("[" * MAX_DOCUMENT_DEPTH + "]" * MAX_DOCUMENT_DEPTH)
    assert refused_in_document(shallow) is None
