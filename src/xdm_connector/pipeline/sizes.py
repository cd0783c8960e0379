"""Records over a size limit, found without serializing every record.

A record's JSON text is bounded from its values: a string takes at most six bytes per
byte of UTF-8 (``\\u001f``) and its quotes, any other value at most ``VALUE_BYTES``, a
member at most its escaped key, a colon and a comma more, an array element a comma more.
``oversized_rows(records, limit)`` first bounds the largest record of the batch (from the
longest value of each field, and the longest array): on common data this is far under the
limit and nothing more is done. Otherwise it bounds each record, and serializes only the
records whose bound passes the limit to measure them::

    over = oversized_rows(records, 102_400)   # None, or one flag per record
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.pipeline.jsontext import json_text

VALUE_BYTES = 40
"""An upper bound of the JSON text of any value that is not a string (numbers, booleans,
dates, date-times, ``null``)."""
_ESCAPED = 6
"""A string byte takes at most six bytes in JSON (``\\u001f``)."""
_EMPTY = 4
"""An object's or an array's braces, or ``null`` in their place."""


def oversized_rows(records: pa.RecordBatch, limit: int) -> pa.BooleanArray | None:
    """Which records take more than ``limit`` bytes as compact JSON (``None``: none)."""
    if not records.num_rows:
        return None
    columns = list(zip(records.schema.names, records.columns, strict=True))
    if _object_max(columns) <= limit:
        return None
    bounds = _object_bytes(columns, records.num_rows)
    candidates = pc.indices_nonzero(pc.greater(bounds, limit))
    if not len(candidates):
        return None
    lengths = pc.binary_length(json_text(records.take(candidates)))
    over = candidates.filter(pc.greater(lengths, limit))
    if not len(over):
        return None
    numbers = pa.arange(0, records.num_rows).cast(pa.uint64())
    return pc.is_in(numbers, value_set=over)


def _member_bytes(name: str) -> int:
    """``"name":`` and a comma."""
    return len(orjson.dumps(name)) + 2


# -- the largest value of a batch ------------------------------------------------------------


def _object_max(fields: list[tuple[str, pa.Array]]) -> int:
    return _EMPTY + sum(_member_bytes(name) + _max(values) for name, values in fields)


def _max(values: pa.Array) -> int:
    """An upper bound of the JSON text of any one of ``values``."""
    kind = values.type
    if pa.types.is_struct(kind):
        return _object_max([(field.name, values.field(i)) for i, field in enumerate(kind)])
    if pa.types.is_map(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        longest = pc.max(pc.list_value_length(_as_list(values))).as_py() or 0
        return _EMPTY + longest * (1 + _max(_items(values)))
    if _is_text(kind):
        longest = pc.max(pc.binary_length(values)).as_py() or 0
        return max(VALUE_BYTES, 2 + _ESCAPED * longest)
    return VALUE_BYTES


# -- each record's ---------------------------------------------------------------------------


def _object_bytes(fields: list[tuple[str, pa.Array]], rows: int) -> pa.Array:
    total: pa.Array = pa.repeat(pa.scalar(_EMPTY, pa.int64()), rows)
    for name, values in fields:
        total = pc.add(total, pc.add(_bytes(values), _member_bytes(name)))
    return total


def _bytes(values: pa.Array) -> pa.Array:
    """An upper bound of the JSON text of each of ``values`` (int64, never null)."""
    kind = values.type
    if pa.types.is_struct(kind):
        fields = [(field.name, values.field(i)) for i, field in enumerate(kind)]
        return _object_bytes(fields, len(values))
    if pa.types.is_map(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lists = _as_list(values)
        # each item's bound and its comma, summed per list by the running total at its ends
        running = pc.cumulative_sum(pc.add(_bytes(_items(values)), 1))
        running = pa.concat_arrays([pa.array([0], pa.int64()), running])
        offsets = pc.cast(lists.offsets, pa.int64())
        ends = running.take(offsets.slice(1))
        starts = running.take(offsets.slice(0, len(values)))
        return pc.add(pc.subtract(ends, starts), _EMPTY)
    if _is_text(kind):
        text = pc.cast(pc.binary_length(values), pa.int64())
        return pc.fill_null(pc.add(pc.multiply(text, _ESCAPED), 2), VALUE_BYTES)
    return pa.repeat(pa.scalar(VALUE_BYTES, pa.int64()), len(values))


def _as_list(values: pa.Array) -> pa.Array:
    """A map as the list of its entries (the list kernels do not take maps), else itself."""
    kind = values.type
    if not pa.types.is_map(kind):
        return values
    entries = pa.struct([kind.key_field, kind.item_field])
    return values.view(pa.list_(pa.field("entries", entries, nullable=False)))


def _items(values: pa.Array) -> pa.Array:
    """The whole child array of a list or map (a map's entries as ``{key, value}``
    objects, which bound ``"key":value`` from above)."""
    return _as_list(values).values


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))
