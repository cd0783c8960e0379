"""Record batches as JSON text, built column by column with ``pyarrow.compute``.

``json_text(batch)`` answers one JSON object per row, as a string array, byte for byte
what ``orjson.dumps`` makes of ``batch.to_pylist()`` with nulls left out of objects
(``OPT_UTC_Z | OPT_NAIVE_UTC``), without a Python object per value:

- each leaf column becomes its JSON text (strings escaped and quoted, numbers, ``true`` /
  ``false``, dates ``"2024-01-31"``, date-times ``"2024-01-31T12:30:00Z"`` in UTC with
  microseconds when they are not zero), null where the value is null;
- an object joins the ``"name":value`` texts of its fields, skipping nulls; arrays and maps
  join their elements' texts per row along their offsets (a null element is ``null``).

Strings are escaped like orjson: ``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\b``,
``\\f``, and ``\\u00XX`` for the other control characters (those rare values go through
orjson one by one); any other character is written as it is, in UTF-8.
"""

from __future__ import annotations

from typing import TypeAlias

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.errors import InvalidInput

_RARE_CONTROL = r"[\x00-\x07\x0b\x0e-\x1f]"
_SHORT_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_LONG_ESCAPES = (("\b", "\\b"), ("\f", "\\f"))


def json_text(batch: pa.RecordBatch, *, ending: str = "") -> pa.Array:
    """One JSON object per row of ``batch`` (a string array without nulls), each followed
    by ``ending`` (``"\n"`` for JSON Lines)."""
    columns = list(zip(batch.schema.names, batch.columns, strict=True))
    return _object(columns, batch.num_rows, ending)


Piece: TypeAlias = "pa.Array | str"
"""A part of each row's text: an array (null: nothing) or the same text on every row."""


def _object(fields: list[tuple[str, pa.Array]], rows: int, ending: str = "") -> pa.Array:
    """The objects of ``fields`` (name, values), their null members left out.

    Nested objects are not built on their own: every piece of the object (keys with their
    commas, values, braces) is joined once, so each value's text is copied once.
    """
    pieces = _merged(["{", *_members(fields), "}" + ending])
    if rows == 0:
        return pa.array([], pa.string())
    # Nulls made empty first: joining pieces without nulls is about twice as fast.
    filled = [_or_empty(piece) for piece in pieces]
    joined = pc.binary_join_element_wise(*filled, "")
    return joined if isinstance(joined, pa.Array) else pa.repeat(joined, rows)


def _or_empty(piece: Piece) -> Piece:
    if isinstance(piece, str) or not piece.null_count:
        return piece
    return pc.fill_null(piece, "")


def _merged(pieces: list[Piece]) -> list[Piece]:
    """The pieces with neighbouring constant texts made one: fewer to join per row."""
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _members(fields: list[tuple[str, pa.Array]]) -> list[Piece]:
    """The pieces of an object's members: ``"name":`` (after a comma when a member came
    before on that row) and the value, or ``"name":{`` ... ``}`` for an object."""
    pieces: list[Piece] = []
    before: pa.BooleanArray | bool = False  # whether a member came before, per row
    for name, values in fields:
        key = orjson.dumps(name).decode() + ":"
        if pa.types.is_struct(values.type):
            children = list(zip(values.type, values.flatten(), strict=True))
            inner = _members([(field.name, child) for field, child in children])
            present = _present(values)
            pieces += [_keyed(key + "{", present, before), *inner, _when(present, "}")]
        elif _is_text(values.type) and values.null_count < len(values):
            text = _string(pc.cast(values, pa.string()), quoted=False)
            present = _present(text)
            pieces += _member(_keyed(key + '"', True, before), text, '"')
        else:
            text = _value(values)
            if text is None:
                continue
            present = _present(text)
            pieces += _member(_keyed(key, True, before), text, "")
        before = present if before is False else _or(before, present)
    return pieces


def _member(key: Piece, text: pa.Array, closing: str) -> list[Piece]:
    """The pieces of a member ``key``, ``text``, ``closing``: made one piece, empty where
    the value is null, when it may be absent (one copy, not a key and a closing per row)."""
    if text.null_count == 0:
        return [key, text, closing]
    return [pc.fill_null(pc.binary_join_element_wise(key, text, closing, ""), "")]


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _present(values: pa.Array) -> pa.BooleanArray | bool:
    return True if values.null_count == 0 else pc.is_valid(values)


def _or(left: pa.BooleanArray | bool, right: pa.BooleanArray | bool) -> pa.BooleanArray | bool:
    if left is True or right is True:
        return True
    return pc.or_(left, right)


def _keyed(key: str, present: pa.BooleanArray | bool, before: pa.BooleanArray | bool) -> Piece:
    """``key``, after a comma on the rows where a member came before; empty where absent."""
    if before is False:
        keyed: Piece = key
    elif before is True:
        keyed = "," + key
    else:
        keyed = pc.if_else(before, "," + key, key)
    return keyed if present is True else _when(present, keyed)


def _when(present: pa.BooleanArray | bool, piece: Piece) -> Piece:
    """``piece`` on the rows where ``present`` holds, nothing on the others."""
    if present is True:
        return piece
    return pc.if_else(present, piece, "")


def _value(values: pa.Array) -> pa.Array | None:
    """The JSON text of each value, null where it is null (``None``: all null)."""
    kind = values.type
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(kind):
        return _value(values.dictionary_decode())
    if pa.types.is_null(kind) or values.null_count == len(values):
        return None
    if _is_text(kind):
        return _string(pc.cast(values, pa.string()))
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false")
    if pa.types.is_integer(kind):
        return pc.cast(values, pa.string())
    if pa.types.is_floating(kind):
        return _number(values)
    if pa.types.is_date(kind):
        return _quoted(pc.cast(pc.cast(values, pa.date32()), pa.string()))
    if pa.types.is_timestamp(kind):
        return _date_time(values)
    if pa.types.is_struct(kind):
        fields = [(field.name, child) for field, child in zip(kind, values.flatten(), strict=True)]
        return _where_valid(values, _object(fields, len(values)))
    # ``offsets`` of a list or a map index its whole child (``values``), sliced or not.
    if pa.types.is_map(kind):
        pairs = values.values
        keys = _string(pc.cast(pairs.field(0), pa.string()))
        entries = pc.binary_join_element_wise(keys, _element_texts(pairs.field(1)), ":")
        return _where_valid(values, _joined(values.offsets, entries, "{", "}"))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _where_valid(
            values, _joined(values.offsets, _element_texts(values.values), "[", "]")
        )
    raise InvalidInput(f"JSON Lines cannot hold a value of type {kind}")


def _element_texts(values: pa.Array) -> pa.Array:
    text = _value(values)
    if text is None:
        return pa.array(["null"] * len(values), pa.string())
    return pc.fill_null(text, "null")


def _joined(offsets: pa.Array, texts: pa.Array, opening: str, closing: str) -> pa.Array:
    """Per row, the texts between its offsets joined by commas, in brackets."""
    lists = pa.ListArray.from_arrays(offsets, texts)
    return pc.binary_join_element_wise(opening, pc.binary_join(lists, ","), closing, "")


def _where_valid(values: pa.Array, text: pa.Array) -> pa.Array:
    if values.null_count == 0:
        return text
    return pc.if_else(pc.is_valid(values), text, pa.scalar(None, pa.string()))


def _quoted(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


def _string(text: pa.Array, *, quoted: bool = True) -> pa.Array:
    """Strings as JSON string literals (their quotes left to the caller unless ``quoted``),
    escaped as orjson escapes them."""
    if not _has_special(text):
        return _quoted(text) if quoted else text
    escaped = text
    for plain, escape in _SHORT_ESCAPES + _LONG_ESCAPES:
        escaped = pc.replace_substring(escaped, plain, escape)
    if quoted:
        escaped = _quoted(escaped)
    rare = pc.fill_null(pc.match_substring_regex(text, _RARE_CONTROL), False)
    if not pc.any(rare).as_py():
        return escaped
    by_orjson = [orjson.dumps(value).decode() for value in text.filter(rare).to_pylist()]
    if not quoted:
        by_orjson = [literal[1:-1] for literal in by_orjson]
    return pc.replace_with_mask(escaped, rare, pa.array(by_orjson, pa.string()))


def text_bytes(text: pa.Array) -> pa.Buffer:
    """The UTF-8 bytes of all the values of a string array, one after another (no copy)."""
    _, offsets, data = text.buffers()
    if data is None:
        return pa.py_buffer(b"")
    bounds = pa.Array.from_buffers(pa.int32(), len(text) + 1, [None, offsets], 0, text.offset)
    start, end = bounds[0].as_py(), bounds[-1].as_py()
    return data.slice(start, end - start)


def _has_special(text: pa.Array) -> bool:
    """Whether any value holds a character that JSON escapes: a scan of all the bytes at
    once (the smallest byte answers for the control characters)."""
    data = text_bytes(text)
    if data.size == 0:
        return False
    smallest = pc.min(pa.Array.from_buffers(pa.uint8(), data.size, [None, data])).as_py()
    raw = data.to_pybytes()
    return bool(smallest < 0x20 or b'"' in raw or b"\\" in raw)


def _number(values: pa.Array) -> pa.Array:
    """Doubles as orjson writes them: decimals from 1e-5 to 1e16 (``10000000000.0``, a
    whole number with ``.0``), exponents outside (``1e+16``; below 1e-5, one by one)."""
    values = pc.cast(values, pa.float64())
    text = pc.cast(values, pa.string())
    size = pc.abs(values)
    decimal = pc.less(size, 1e16)
    whole = pc.and_(decimal, pc.equal(pc.floor(values), values))
    exponent = pc.match_substring(text, "e")
    digits = pc.if_else(
        exponent, pc.cast(pc.cast(values, pa.int64(), safe=False), pa.string()), text
    )
    text = pc.if_else(whole, pc.binary_join_element_wise(digits, ".0", ""), text)
    tiny = pc.and_(pc.less(size, 1e-5), pc.not_equal(values, 0))
    rare = pc.fill_null(pc.or_(tiny, pc.and_(pc.and_(decimal, exponent), pc.invert(whole))), False)
    if not pc.any(rare).as_py():
        return text
    by_orjson = [orjson.dumps(value).decode() for value in values.filter(rare).to_pylist()]
    return pc.replace_with_mask(text, rare, pa.array(by_orjson, pa.string()))


def _date_time(values: pa.Array) -> pa.Array:
    """Date-times in UTC, ``2024-01-31T12:30:00Z``, with ``.ffffff`` when not zero: Arrow's
    text of the microseconds, without a zone (faster than with one), reworked."""
    utc = pc.cast(values, pa.timestamp(values.type.unit, tz="UTC"))
    text = pc.cast(pc.cast(utc, pa.timestamp("us"), safe=False), pa.string())
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    text = pc.replace_substring(text, ".000000", "")
    return pc.binary_join_element_wise('"', text, 'Z"', "")
