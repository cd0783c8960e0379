"""The validate stage: shaped records checked against the dataset's schema, columnar.

Shaping already refuses values that do not convert to their field's type or are outside
its ``enum``. ``RecordChecks`` adds what ``xdm.validation.RecordValidator`` checks beyond
that, with the same verdicts, without a Python loop per record on the common path::

    checks = RecordChecks(schema, shaper.output_schema)
    checked = checks.check(shaped.records)     # rejected rows and problem samples
    accepted = shaped.records.filter(pc.invert(checked.rejected))

- string formats: ``email`` and ``uri-reference`` by the validator's own patterns, run by
  RE2; ``uri`` by a strict ASCII pattern that accepts most values at once, the few it does
  not being judged by the validator's function;
- ``pattern`` (searched, as JSON Schema does): RE2 judges the values of printable ASCII,
  where it reads a pattern as Python's ``re`` does, and ``re`` the others (all of them when
  RE2 cannot take the pattern); ``maxLength``, ``minimum`` and ``maximum``;
- ``required`` fields of the objects a record holds;
- a profile record needs an identity with ``"primary": true`` when the mapping writes
  identities (a mapping without any is refused at publication, not row by row);
- the 100 KB profile record limit (``sizes.py``): an upper bound of any record's JSON size
  in the batch first, then of each record's when that one passes the limit; only records
  whose bound passes it are serialized and measured.

Only the branches of the records that hold a checked field are walked: which ones is
known from the output schema, once. Values under arrays and maps are checked with the row
they belong to; a problem's path is the field's XED path (``*`` for any array index or map
key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.pipeline.shaping import Problem, Rejections
from xdm_connector.pipeline.sizes import oversized_rows
from xdm_connector.xdm.fields import XdmField
from xdm_connector.xdm.schema import XedSchema
from xdm_connector.xdm.validation import (
    EMAIL_PATTERN,
    PROFILE_RECORD_LIMIT,
    URI_REFERENCE_PATTERN,
    format_checker,
)

MAX_PROBLEMS = 100
"""Problem samples kept per batch."""

# Formats judged by the validator's own pattern, matched whole.
_EXACT_FORMATS = {
    "email": f"^(?:{EMAIL_PATTERN})$",
    "uri-reference": f"^(?:{URI_REFERENCE_PATTERN})$",
}
# Values this pattern accepts are valid for the validator too (printable ASCII only).
_STRICT_FORMATS = {"uri": r"^[A-Za-z][A-Za-z0-9+.\-]*:[!-Z\\^-~]*$"}
_PRIMARY = ("identityMap", "*", "*", "primary")
Steps = tuple[str, ...]


@dataclass(frozen=True)
class Checked(Rejections):
    """Which records of a batch are refused, and samples of why."""


@dataclass(frozen=True)
class _Values:
    """Values of one field across a batch, with the row of the record each is in
    (``rows`` is ``None`` when there is one value per record, in order)."""

    field: XdmField
    steps: Steps
    values: pa.Array
    rows: pa.Array | None


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
        self._walked: set[Steps] = set()
        for out in output_schema:
            xdm = schema.root.child(out.name)
            if xdm is not None:
                self._plan(xdm, (out.name,), out.type)
        self._numbers = pa.array([], pa.int64())
        self._python_patterns: set[str] = set()
        """Patterns RE2 cannot take: Python's ``re`` judges all their values."""

    def check(self, records: pa.RecordBatch) -> Checked:
        """The verdict on every record of ``records``."""
        rows = records.num_rows
        found = _Found(self._row_numbers(rows), self.max_problems)
        primary: _Values | None = None
        for leaf in self._leaves(records, found):
            if leaf.steps == _PRIMARY:
                primary = leaf
            self._check_values(leaf, found)
        if self._identities:
            self._check_identities(primary, found)
        if self.schema.is_profile and rows:
            over = oversized_rows(records, PROFILE_RECORD_LIMIT)
            if over is not None:
                reason = f"the record is larger than {PROFILE_RECORD_LIMIT} bytes"
                found.add_rows(over, "/", None, reason)
        return Checked(found.rejected(), found.problems)

    def _row_numbers(self, rows: int) -> pa.Array:
        """``0 .. rows - 1`` as int64, kept from one batch to the next."""
        if len(self._numbers) < rows:
            self._numbers = pa.arange(0, rows)
        return self._numbers.slice(0, rows)

    # -- which branches to walk ------------------------------------------------------------

    def _plan(self, xdm: XdmField, steps: Steps, kind: pa.DataType) -> bool:
        """Whether anything at or under ``steps`` is checked; remembers the steps if so."""
        if pa.types.is_struct(kind):
            wanted = bool(xdm.required)
            for out in kind:
                child = xdm.child(out.name)
                if child is not None and self._plan(child, (*steps, out.name), out.type):
                    wanted = True
        elif pa.types.is_map(kind) and xdm.items is not None:
            wanted = self._plan(xdm.items, (*steps, "*"), kind.item_type)
        elif pa.types.is_list(kind) and xdm.items is not None:
            wanted = self._plan(xdm.items, (*steps, "*"), kind.value_type)
        else:
            primary = self._identities and steps == _PRIMARY
            wanted = primary or _has_value_checks(xdm, kind)
        if wanted:
            self._walked.add(steps)
        return wanted

    def _leaves(self, records: pa.RecordBatch, found: _Found) -> Iterator[_Values]:
        """The checked leaves of the records; ``required`` fields are checked on the way."""
        for index, out in enumerate(records.schema):
            xdm = self.schema.root.child(out.name)
            if xdm is not None and (out.name,) in self._walked:
                yield from self._walk(xdm, (out.name,), records.column(index), None, found)

    def _walk(
        self, xdm: XdmField, steps: Steps, values: pa.Array, rows: pa.Array | None, found: _Found
    ) -> Iterator[_Values]:
        kind = values.type
        if pa.types.is_struct(kind):
            if xdm.required:
                _check_required(xdm, values, rows, found)
            for index, out in enumerate(kind):
                child = xdm.child(out.name)
                if child is not None and (*steps, out.name) in self._walked:
                    inner = pc.struct_field(values, [index])
                    yield from self._walk(child, (*steps, out.name), inner, rows, found)
        elif pa.types.is_map(kind) and xdm.items is not None:
            entries = _map_entries(values)
            inner = pc.struct_field(pc.list_flatten(entries), [1])
            parents = _parents(entries, rows)
            yield from self._walk(xdm.items, (*steps, "*"), inner, parents, found)
        elif pa.types.is_list(kind) and xdm.items is not None:
            flat = pc.list_flatten(values)
            yield from self._walk(xdm.items, (*steps, "*"), flat, _parents(values, rows), found)
        else:
            yield _Values(xdm, steps, values, rows)

    # -- checks ------------------------------------------------------------------------------

    def _check_values(self, leaf: _Values, found: _Found) -> None:
        xdm = leaf.field
        values = leaf.values
        if _is_text(values.type):
            if xdm.format in _EXACT_FORMATS:
                conforms = pc.match_substring_regex(values, _EXACT_FORMATS[xdm.format])
                found.add(leaf, pc.invert(conforms), f"not a valid {xdm.format}")
            elif xdm.format in _STRICT_FORMATS:
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
        doubtful = pc.invert(strict)
        conforms = self._formats.conforms
        failed = _python_verdicts(
            leaf.values, doubtful, lambda text: not conforms(text, name), _none(len(doubtful))
        )
        found.add(leaf, failed, f"not a valid {name}")

    def _check_pattern(self, leaf: _Values, pattern: str, found: _Found) -> None:
        values = leaf.values
        judged, failed = pc.is_valid(values), _none(len(values))
        if pattern not in self._python_patterns:
            try:
                matches = pc.match_substring_regex(values, pattern)
            except pa.ArrowInvalid:
                self._python_patterns.add(pattern)
            else:
                # RE2 and ``re`` read a pattern alike on printable ASCII (``$``, ``\s``...)
                judged = pc.invert(pc.ascii_is_printable(values))
                failed = pc.invert(matches)
        failed = _python_verdicts(
            values, judged, lambda text: re.search(pattern, text) is None, failed
        )
        found.add(leaf, failed, f"does not match {pattern!r}")

    def _check_identities(self, primary: _Values | None, found: _Found) -> None:
        with_primary = pa.array([], pa.int64())
        if primary is not None:
            flags = pc.fill_null(primary.values, False)
            rows = found.numbers if primary.rows is None else primary.rows
            with_primary = rows.filter(flags)
        missing = pc.invert(pc.is_in(found.numbers, value_set=with_primary))
        reason = 'a profile record needs an identity with "primary": true'
        found.add_rows(missing, "/identityMap", None, reason)


def _has_value_checks(xdm: XdmField, kind: pa.DataType) -> bool:
    """Whether ``_check_values`` checks the values of this leaf."""
    if _is_text(kind):
        return (
            xdm.format in _EXACT_FORMATS
            or xdm.format in _STRICT_FORMATS
            or xdm.pattern is not None
            or xdm.max_length is not None
        )
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return xdm.minimum is not None or xdm.maximum is not None
    return False


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _none(count: int) -> pa.BooleanArray:
    return pa.repeat(False, count)


def _python_verdicts(
    values: pa.Array, judged: pa.BooleanArray, failing: Callable[[str], bool], failed: pa.Array
) -> pa.BooleanArray:
    """``failed``, but where ``judged`` holds, whether Python's ``failing`` refuses the value
    (only those few values leave Arrow, so the flags stay in row order)."""
    judged = pc.and_(pc.fill_null(judged, False), pc.is_valid(values))
    if not judged.true_count:
        return failed
    verdicts = [failing(text) for text in values.filter(judged).to_pylist()]
    return pc.replace_with_mask(failed, judged, pa.array(verdicts, pa.bool_()))


def _check_required(xdm: XdmField, values: pa.Array, rows: pa.Array | None, found: _Found) -> None:
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


def _map_entries(values: pa.Array) -> pa.ListArray:
    """A map array as the list of its ``{key, value}`` entries, without a copy (the list
    kernels do not take maps)."""
    kind = values.type
    entries = pa.field("entries", pa.struct([kind.key_field, kind.item_field]), nullable=False)
    return values.view(pa.list_(entries))


def _parents(lists: pa.Array, rows: pa.Array | None) -> pa.Array:
    """The row of each value of ``lists`` once flattened."""
    parents = pc.cast(pc.list_parent_indices(lists), pa.int64())
    return parents if rows is None else rows.take(parents)


class _Found:
    """Refused rows and problem samples, gathered check by check."""

    def __init__(self, numbers: pa.Array, max_problems: int) -> None:
        self.numbers = numbers
        """The row numbers of the batch, ``0 .. rows - 1``."""
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self._refused: list[pa.Array] = []

    def add(self, leaf: _Values, failed: pa.BooleanArray, reason: str) -> None:
        """Refuse the rows of the values where ``failed`` holds."""
        failed = pc.fill_null(failed, False)
        if not failed.true_count:
            return
        positions = pc.cast(pc.indices_nonzero(failed), pa.int64())
        rows = positions if leaf.rows is None else leaf.rows.take(positions)
        self._refused.append(rows)
        room = self.max_problems - len(self.problems)
        if room > 0:
            shown = leaf.values.take(positions.slice(0, room)).to_pylist()
            self.problems.extend(
                Problem(row, leaf.field.path, value, reason)
                for row, value in zip(rows.slice(0, room).to_pylist(), shown, strict=True)
            )

    def add_values(
        self, rows: pa.Array | None, failed: pa.BooleanArray, path: str, reason: str
    ) -> None:
        """Refuse ``rows`` where ``failed`` holds (one flag per entry of ``rows``; ``None``:
        one flag per record)."""
        if rows is None:
            self.add_rows(failed, path, None, reason)
        elif failed.true_count:
            refused = pc.is_in(self.numbers, value_set=rows.filter(failed))
            self.add_rows(refused, path, None, reason)

    def add_rows(self, failed: pa.BooleanArray, path: str, value: object, reason: str) -> None:
        """Refuse whole records where ``failed`` holds."""
        failed = pc.fill_null(failed, False)
        if not failed.true_count:
            return
        rows = pc.cast(pc.indices_nonzero(failed), pa.int64())
        self._refused.append(rows)
        room = self.max_problems - len(self.problems)
        self.problems.extend(
            Problem(row, path, value, reason) for row in rows.slice(0, max(room, 0)).to_pylist()
        )

    def rejected(self) -> pa.BooleanArray:
        """One flag per record: refused by any check."""
        if not self._refused:
            return _none(len(self.numbers))
        refused = pa.concat_arrays(self._refused)
        return pc.is_in(self.numbers, value_set=refused)
