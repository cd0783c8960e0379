"""The validate stage: shaped records checked against the dataset's schema, columnar.

Shaping already refuses values that do not convert to their field's type or are outside
its ``enum``. ``RecordChecks`` adds what ``xdm.validation.RecordValidator`` checks beyond
that, with the same verdicts, without a Python loop per record on the common path::

    checks = RecordChecks(schema, shaper.output_schema)
    checked = checks.check(shaped.records)     # rejected rows and problem samples
    accepted = shaped.records.filter(pc.invert(checked.rejected))

- string formats ``email``, ``uri`` and ``uri-reference``: a strict ASCII pattern accepts
  most values at once; the few it does not are judged by the validator's own functions;
- ``pattern`` (searched, as JSON Schema does; Python's ``re`` when RE2 cannot take it),
  ``maxLength``, ``minimum`` and ``maximum``;
- ``required`` fields of the objects a record holds;
- a profile record needs an identity with ``"primary": true`` when the mapping writes
  identities (a mapping without any is refused at publication, not row by row);
- the 100 KB profile record limit: an upper bound of each record's JSON size is summed per
  row from its values; only records whose bound passes the limit are serialized and measured.

Values under arrays and maps are checked with the row they belong to; a problem's path is
the field's XED path (``*`` for any array index or map key).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.pipeline.files import json_lines
from xdm_connector.pipeline.shaping import Problem
from xdm_connector.xdm.fields import XdmField, XdmType
from xdm_connector.xdm.schema import XedSchema
from xdm_connector.xdm.validation import PROFILE_RECORD_LIMIT, format_checker

MAX_PROBLEMS = 100
"""Problem samples kept per batch."""

# Values these patterns accept are valid for the validator too (printable ASCII only).
_STRICT_FORMATS = {
    "email": r"^[!-?A-~]+@[!-\-/-?A-~]+(\.[!-\-/-?A-~]+)+$",
    "uri": r"^[A-Za-z][A-Za-z0-9+.\-]*:[!-Z\\^-~]*$",
    "uri-reference": r"^[!-~]*$",
}
_VALUE_BYTES = 40
"""An upper bound of the JSON text of any value that is not a string (numbers, dates)."""
_ESCAPED = 6
"""A string byte takes at most six bytes in JSON (``\\u001f``)."""
_PRIMARY = ("identityMap", "*", "*", "primary")


@dataclass(frozen=True)
class Checked:
    """Which records of a batch are refused, and samples of why."""

    rejected: pa.BooleanArray
    problems: list[Problem]

    @property
    def rejected_count(self) -> int:
        """How many records are refused."""
        return int(self.rejected.true_count)


@dataclass(frozen=True)
class _Values:
    """Values of one field across a batch, each with the row of the record it is in."""

    field: XdmField
    steps: tuple[str, ...]
    values: pa.Array
    rows: pa.Array
    overhead: int
    """Bytes of JSON around each value at most: its keys, braces, commas."""


class RecordChecks:
    """The schema checks shaping leaves out, for records of one output schema."""

    def __init__(
        self, schema: XedSchema, output_schema: pa.Schema, *, max_problems: int = MAX_PROBLEMS
    ) -> None:
        self.schema = schema
        self.output_schema = output_schema
        self.max_problems = max_problems
        self._formats = format_checker()
        self._identities = (
            schema.is_profile
            and schema.field_at("/identityMap") is not None
            and output_schema.get_field_index("identityMap") >= 0
        )

    def check(self, records: pa.RecordBatch) -> Checked:
        """The verdict on every record of ``records``."""
        rows = records.num_rows
        found = _Found(rows, self.max_problems)
        sizes: list[tuple[pa.Array, pa.Array]] = []
        for leaf in self._leaves(records, found):
            self._check_values(leaf, found)
            sizes.append((leaf.rows, _json_bytes(leaf)))
        if self._identities:
            self._check_identities(records, found)
        if self.schema.is_profile and rows:
            self._check_sizes(records, sizes, found)
        return Checked(found.rejected(), found.problems)

    # -- walking the records ---------------------------------------------------------------

    def _leaves(self, records: pa.RecordBatch, found: _Found | None = None) -> Iterator[_Values]:
        """Every leaf of the records; ``required`` fields are checked on the way."""
        rows = pa.array(range(records.num_rows), pa.int64())
        for index, out in enumerate(records.schema):
            xdm = self.schema.root.child(out.name)
            if xdm is not None:
                column = records.column(index)
                yield from self._walk(xdm, (out.name,), column, rows, len(out.name) + 4, found)

    def _walk(
        self,
        xdm: XdmField,
        steps: tuple[str, ...],
        values: pa.Array,
        rows: pa.Array,
        overhead: int,
        found: _Found | None,
    ) -> Iterator[_Values]:
        kind = values.type
        if pa.types.is_struct(kind):
            if found is not None and xdm.required:
                _check_required(xdm, values, rows, found)
            for index, out in enumerate(kind):
                child = xdm.child(out.name)
                if child is not None:
                    inner = pc.struct_field(values, [index])
                    yield from self._walk(
                        child, (*steps, out.name), inner, rows, overhead + len(out.name) + 6, found
                    )
        elif pa.types.is_map(kind) and xdm.items is not None:
            entries = _map_entries(values)
            parents = rows.take(pc.list_parent_indices(entries))
            flat = pc.list_flatten(entries)
            keys = pc.struct_field(flat, [0])
            yield _Values(xdm, (*steps, "*"), keys, parents, overhead + 4)
            inner = pc.struct_field(flat, [1])
            yield from self._walk(xdm.items, (*steps, "*"), inner, parents, overhead + 4, found)
        elif pa.types.is_list(kind) and xdm.items is not None:
            parents = rows.take(pc.list_parent_indices(values))
            flat = pc.list_flatten(values)
            yield from self._walk(xdm.items, (*steps, "*"), flat, parents, overhead + 4, found)
        else:
            yield _Values(xdm, steps, values, rows, overhead)

    # -- checks ------------------------------------------------------------------------------

    def _check_values(self, leaf: _Values, found: _Found) -> None:
        xdm = leaf.field
        if leaf.steps[-1:] == ("*",) and xdm.type is XdmType.MAP:
            return  # map keys: no constraint of their own
        values = leaf.values
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            if xdm.format in _STRICT_FORMATS:
                self._check_format(leaf, xdm.format, found)
            if xdm.pattern is not None:
                self._check_pattern(leaf, xdm.pattern, found)
            if xdm.max_length is not None:
                longer = pc.greater(pc.utf8_length(values), xdm.max_length)
                found.add(leaf, longer, f"longer than {xdm.max_length} characters")
        elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            if xdm.minimum is not None:
                found.add(leaf, pc.less(values, xdm.minimum), f"less than {xdm.minimum:g}")
            if xdm.maximum is not None:
                found.add(leaf, pc.greater(values, xdm.maximum), f"greater than {xdm.maximum:g}")

    def _check_format(self, leaf: _Values, name: str, found: _Found) -> None:
        strict = pc.match_substring_regex(leaf.values, _STRICT_FORMATS[name])
        doubtful = pc.and_(pc.is_valid(leaf.values), pc.invert(strict))
        if not doubtful.true_count:
            return
        conforms = self._formats.conforms
        verdicts = [
            not doubtful_row or conforms(value, name)
            for doubtful_row, value in zip(
                doubtful.to_pylist(), leaf.values.to_pylist(), strict=True
            )
        ]
        found.add(leaf, pc.invert(pa.array(verdicts, pa.bool_())), f"not a valid {name}")

    def _check_pattern(self, leaf: _Values, pattern: str, found: _Found) -> None:
        try:
            matches = pc.match_substring_regex(leaf.values, pattern)
        except pa.ArrowInvalid:
            compiled = re.compile(pattern)
            matches = pa.array(
                [value is None or compiled.search(value) is not None for value in leaf.values],
                pa.bool_(),
            )
        found.add(leaf, pc.invert(matches), f"does not match {pattern!r}")

    def _check_identities(self, records: pa.RecordBatch, found: _Found) -> None:
        primary = [leaf for leaf in self._leaves(records) if leaf.steps == _PRIMARY]
        with_primary = pa.array([], pa.int64())
        if primary:
            leaf = primary[0]
            with_primary = leaf.rows.filter(pc.fill_null(leaf.values, False))
        rows = pa.array(range(records.num_rows), pa.int64())
        missing = pc.invert(pc.is_in(rows, value_set=with_primary))
        reason = 'a profile record needs an identity with "primary": true'
        found.add_rows(missing, "/identityMap", None, reason)

    def _check_sizes(
        self, records: pa.RecordBatch, sizes: list[tuple[pa.Array, pa.Array]], found: _Found
    ) -> None:
        if not sizes:
            return
        table = pa.table(
            {
                "row": pa.concat_arrays([rows for rows, _ in sizes]),
                "bytes": pa.concat_arrays([pc.cast(b, pa.int64()) for _, b in sizes]),
            }
        )
        bounds = table.group_by("row").aggregate([("bytes", "sum")])
        large = bounds.filter(pc.greater(bounds["bytes_sum"], PROFILE_RECORD_LIMIT))
        if not large.num_rows:
            return
        candidates = large["row"].combine_chunks()
        lines = json_lines(records.take(candidates)).splitlines()
        over = [
            row
            for row, line in zip(candidates.to_pylist(), lines, strict=True)
            if len(line) > PROFILE_RECORD_LIMIT
        ]
        if over:
            mask = pc.is_in(
                pa.array(range(records.num_rows), pa.int64()), pa.array(over, pa.int64())
            )
            found.add_rows(
                mask, "/", None, f"the record is larger than {PROFILE_RECORD_LIMIT} bytes"
            )


def _check_required(xdm: XdmField, values: pa.Array, rows: pa.Array, found: _Found) -> None:
    """Refuse the present objects that lack one of their required fields."""
    present = pc.is_valid(values)
    names = [out.name for out in values.type]
    for name in sorted(xdm.required):
        path = f"{xdm.path.rstrip('/')}/{name}"
        if name in names:
            child = pc.struct_field(values, [names.index(name)])
            missing = pc.and_(present, pc.is_null(child))
        else:
            missing = present
        found.add_values(rows, missing, path, "required field is missing")


def _json_bytes(leaf: _Values) -> pa.Array:
    """An upper bound of the JSON bytes each value of ``leaf`` takes in its record."""
    values = leaf.values
    present = pc.cast(pc.is_valid(values), pa.int64())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = pc.fill_null(pc.cast(pc.binary_length(values), pa.int64()), 0)
        return pc.multiply(present, pc.add(pc.multiply(text, _ESCAPED), leaf.overhead + 2))
    return pc.multiply(present, leaf.overhead + _VALUE_BYTES)


def _map_entries(values: pa.Array) -> pa.ListArray:
    """A map array as a list of ``{key, value}`` structs (null maps stay null)."""
    if values.offset:
        values = pc.take(values, pa.array(range(len(values)), pa.int64()))
    entries = pa.StructArray.from_arrays([values.keys, values.items], names=["key", "value"])
    return pa.ListArray.from_arrays(values.offsets, entries, mask=values.is_null())


class _Found:
    """Refused rows and problem samples, gathered check by check."""

    def __init__(self, rows: int, max_problems: int) -> None:
        self.rows = rows
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self._refused: list[pa.Array] = []

    def add(self, leaf: _Values, failed: pa.BooleanArray, reason: str) -> None:
        """Refuse the rows of the values where ``failed`` holds."""
        failed = pc.fill_null(failed, False)
        if not failed.true_count:
            return
        positions = pc.indices_nonzero(failed)
        rows = leaf.rows.take(positions)
        self._refused.append(rows)
        room = self.max_problems - len(self.problems)
        if room > 0:
            shown = leaf.values.take(positions.slice(0, room)).to_pylist()
            self.problems.extend(
                Problem(row, leaf.field.path, value, reason)
                for row, value in zip(rows.slice(0, room).to_pylist(), shown, strict=True)
            )

    def add_values(self, rows: pa.Array, failed: pa.BooleanArray, path: str, reason: str) -> None:
        """Refuse ``rows`` where ``failed`` holds (one flag per entry of ``rows``)."""
        if failed.true_count:
            self.add_rows(pc.is_in(self._all(), value_set=rows.filter(failed)), path, None, reason)

    def _all(self) -> pa.Array:
        return pa.array(range(self.rows), pa.int64())

    def add_rows(self, failed: pa.BooleanArray, path: str, value: object, reason: str) -> None:
        """Refuse whole records where ``failed`` holds."""
        if not failed.true_count:
            return
        rows = pc.indices_nonzero(failed)
        self._refused.append(pc.cast(rows, pa.int64()))
        room = self.max_problems - len(self.problems)
        self.problems.extend(
            Problem(row, path, value, reason) for row in rows.slice(0, max(room, 0)).to_pylist()
        )

    def rejected(self) -> pa.BooleanArray:
        """One flag per record: refused by any check."""
        everything = pa.array(range(self.rows), pa.int64())
        if not self._refused:
            return pa.repeat(False, self.rows) if self.rows else pa.array([], pa.bool_())
        refused = pa.concat_arrays([pc.cast(rows, pa.int64()) for rows in self._refused])
        return pc.is_in(everything, value_set=refused)
