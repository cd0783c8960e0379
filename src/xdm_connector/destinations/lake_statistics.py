"""The Delta statistics of a Parquet file, taken from the footer its writer produced.

An ``add`` action's ``stats`` let a reader skip the files that cannot hold what it looks
for (``_id = 'x'``, a time range): the file's row count, and for each column its smallest
and largest value and its count of nulls. They are taken from the statistics of each row
group in the file's footer, never from its data::

    stats = file_statistics(pq.read_metadata(path))   # or a ParquetWriter's metadata
    # '{"numRecords":3,"minValues":{"_id":"1"},"maxValues":{"_id":"3"},"nullCount":{"_id":0}}'

As delta-rs writes them: the columns of structs nested under their struct; none for a
column of lists or maps, nor a value Delta's JSON cannot hold exactly (binary, decimal, a
float's NaN). Timestamps have milliseconds, as Delta's statistics do: a smallest value is
cut down to its millisecond, a largest one raised to the next, so that a reader never
skips a file that holds the value it looks for. A column whose footer lacks a row group's
statistics has none.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

_MILLISECOND = dt.timedelta(milliseconds=1)


def file_statistics(metadata: pq.FileMetaData) -> str:
    """The ``stats`` of an ``add`` action for the Parquet file of this footer (JSON)."""
    stats: dict[str, Any] = {"numRecords": metadata.num_rows}
    if metadata.num_rows and metadata.num_row_groups:
        found = _Leaves(metadata).fields(metadata.schema.to_arrow_schema())
        stats.update({key: found[key] for key in ("minValues", "maxValues", "nullCount")})
    return orjson.dumps(stats).decode()


class _Leaves:
    """The footer's column chunks, taken in the schema's order of its leaf columns."""

    def __init__(self, metadata: pq.FileMetaData) -> None:
        self.metadata = metadata
        self.next_leaf = 0

    def fields(self, fields: pa.Schema | pa.StructType) -> dict[str, dict[str, Any]]:
        """The minimums, maximums and null counts of the fields (their leaves taken)."""
        found: dict[str, dict[str, Any]] = {"minValues": {}, "maxValues": {}, "nullCount": {}}
        for field in fields:
            if pa.types.is_struct(field.type):
                nested = self.fields(field.type)
                for key, values in nested.items():
                    if values:
                        found[key][field.name] = values
                continue
            if _nested(field.type):  # lists and maps: no statistics in Delta
                self.next_leaf += _leaf_count(field.type)
                continue
            column = self._column(field.type)
            self.next_leaf += 1
            for key, value in column.items():
                found[key][field.name] = value
        return found

    def _column(self, kind: pa.DataType) -> dict[str, Any]:
        """The statistics of the leaf column at ``next_leaf`` across the row groups."""
        nulls = 0
        low: Any = None
        high: Any = None
        ranged = _ranged(kind)
        for group in range(self.metadata.num_row_groups):
            chunk = self.metadata.row_group(group).column(self.next_leaf)
            statistics = chunk.statistics
            if statistics is None or not statistics.has_null_count:
                return {}
            nulls += statistics.null_count
            if not ranged:
                continue
            if statistics.has_min_max:
                low = statistics.min if low is None else min(low, statistics.min)
                high = statistics.max if high is None else max(high, statistics.max)
            elif statistics.null_count < chunk.num_values:
                ranged = False  # values without a range: none can be told
        found: dict[str, Any] = {"nullCount": nulls}
        if ranged and low is not None:
            minimum, maximum = _json(low, kind, up=False), _json(high, kind, up=True)
            if minimum is not None and maximum is not None:
                found.update(minValues=minimum, maxValues=maximum)
        return found


def _leaf_count(kind: pa.DataType) -> int:
    """How many Parquet leaf columns a column of this type has."""
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(index).type) for index in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if _nested(kind):
        return _leaf_count(kind.value_type)
    return 1


_LISTS = (
    pa.types.is_list,
    pa.types.is_large_list,
    pa.types.is_fixed_size_list,
    pa.types.is_list_view,
    pa.types.is_large_list_view,
    pa.types.is_map,  # a list of entries
)
"""The types of columns that hold lists: Delta keeps no statistics of them."""
_RANGED = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_date,
    pa.types.is_timestamp,
)
"""The types whose values Delta's JSON holds exactly: their minimum and maximum are kept."""


def _nested(kind: pa.DataType) -> bool:
    """Whether a column holds lists."""
    return any(test(kind) for test in _LISTS)


def _ranged(kind: pa.DataType) -> bool:
    """Whether a column's minimum and maximum are kept."""
    return any(test(kind) for test in _RANGED)


def _json(value: Any, kind: pa.DataType, *, up: bool) -> Any:
    """A footer's minimum (``up`` False) or maximum as Delta writes it; None: not told."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if pa.types.is_timestamp(kind):
        if not isinstance(value, dt.datetime):
            return None  # nanoseconds: not read as a datetime
        return _timestamp(value, utc=getattr(kind, "tz", None) is not None, up=up)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _timestamp(value: dt.datetime, *, utc: bool, up: bool) -> str:
    """A timestamp to the millisecond, cut down (a minimum) or raised (a maximum)."""
    cut = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    if up and cut != value:
        cut += _MILLISECOND
    if utc:
        return cut.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return cut.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
