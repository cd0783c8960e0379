"""Flat source columns shaped into nested, typed XDM records, columnar.

A mapping's targets name, for each XED leaf path, the flat column holding its values::

    shaper = RecordShaper(schema_root, {
        "/personalEmail/address": "c0",
        "/identityMap/Email/0/id": "c1",
        "/identityMap/Email/0/primary": "c2",      # a constant column: TRUE
        "/person/birthDate": "c3",
    }, constant_paths=frozenset({"/identityMap/Email/0/primary"}))
    shaped = shaper.shape(batch)   # records, rejected rows, problem samples

**Conversions** follow the platform's ingestion rules, per column with ``pyarrow.compute``
(a Python loop runs only to isolate values that passed a pattern yet fail to convert, such
as ``2024-02-30``):

- to string: text, numbers, booleans (``true``), dates (``2024-01-31``), date-times
  (``2024-01-31T12:30:00Z``);
- to integer: integers in the field's range (8, 16, 32 or 64 bits), whole numbers, text
  such as ``-12``;
- to number: integers, numbers, text such as ``1.5e3``; NaN and infinities are refused;
- to boolean: booleans, and the integers 0 and 1 (SQLite has no boolean type); never text;
- to date: dates, date-times (their UTC date), epoch milliseconds, text ``YYYY-MM-DD``
  optionally followed by a time (the date as written is kept);
- to date-time: date-times (a zone-less one is UTC), dates (midnight UTC), epoch
  milliseconds, ISO-8601 text with ``T`` or a space, seconds optional, with or without zone.

Text that is empty or blank is null for every type but string. A value that does not
convert, or is not in its field's ``enum``, rejects its row with a ``Problem``; so does a
value the source could not read (a MySQL zero date, given as the batch's column
``UNREADABLE_PREFIX + column``, ``sources/mysql.py``).

**Null rules**: an object is null when all its mapped leaves that are not constants are
null, and present when it has constants only. An array element is dropped when it is null
by that rule; an array left empty is null. A map entry is dropped when its value is null
(an empty array included); a map left empty is null, not ``{}``: a record without any
identity has no ``identityMap`` at all.

The output holds only the mapped branches, fields in the schema's order, array elements by
index, map keys in the order of the mapping.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.errors import InvalidInput
from xdm_connector.sources.statements import UNREADABLE_PREFIX
from xdm_connector.xdm.fields import XdmField, XdmType

MAX_PROBLEMS = 100
"""Problem samples kept per batch."""
UNREADABLE_REASON = "is not a date: a zero date or a date with a zero month or day (MySQL)"
"""The reason of a row whose source date the reader could not read (``UNREADABLE_PREFIX``)."""

_CONTAINERS = (XdmType.OBJECT, XdmType.ARRAY, XdmType.MAP)
_EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # years 1 to 9999
_INTEGER = r"^[+-]?\d+$"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_DATE = r"^\d{4}-\d{2}-\d{2}([T ].*)?$"
_TIME = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
_ZONE = r"(Z|[+-]\d{2}(:?\d{2})?)"
_DATE_TIME = rf"^\d{{4}}-\d{{2}}-\d{{2}}({_TIME}{_ZONE}?)?$"
_ZONED = rf"{_TIME}{_ZONE}$"
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def arrow_type(field: XdmField) -> pa.DataType:
    """The Arrow type of an XDM field: ``date-time`` is ``timestamp[us, UTC]``, an object a
    struct of all its children, an array a list, a map ``map<string, item>``."""
    match field.type:
        case XdmType.STRING:
            return pa.string()
        case XdmType.INTEGER:
            return {8: pa.int8(), 16: pa.int16(), 32: pa.int32()}.get(
                field.integer_bits or 64, pa.int64()
            )
        case XdmType.NUMBER:
            return pa.float64()
        case XdmType.BOOLEAN:
            return pa.bool_()
        case XdmType.DATE:
            return pa.date32()
        case XdmType.DATE_TIME:
            return _UTC_MICROS
        case XdmType.OBJECT:
            return pa.struct([pa.field(n, arrow_type(c)) for n, c in field.children.items()])
    if field.items is None:
        raise InvalidInput(f"{field.path}: the {field.type} has no item type")
    if field.type is XdmType.ARRAY:
        return pa.list_(arrow_type(field.items))
    return pa.map_(pa.string(), arrow_type(field.items))


@dataclass(frozen=True)
class Problem:
    """Why an input row was rejected: ``row`` is its index in the input batch."""

    row: int
    path: str
    value: object
    reason: str


@dataclass(frozen=True)
class Rejections:
    """Which rows of a batch are rejected (a mask over its rows), and samples of why."""

    rejected: pa.BooleanArray
    problems: list[Problem]

    @property
    def rejected_count(self) -> int:
        """How many rows of the batch are rejected."""
        return int(self.rejected.true_count)


@dataclass(frozen=True)
class ShapedBatch(Rejections):
    """The accepted rows as nested records, and which input rows were rejected and why."""

    records: pa.RecordBatch


@dataclass(frozen=True)
class _Leaf:
    path: str
    column: str
    field: XdmField
    constant: bool


@dataclass
class _Node:
    field: XdmField
    children: dict[str, _Node] = dataclasses.field(default_factory=dict)
    leaf: _Leaf | None = None


class RecordShaper:
    """Shapes batches of flat columns into the records of one dataset schema.

    ``targets`` maps XED leaf paths to column names; ``constant_paths`` are the targets
    whose column holds a constant (they do not make an object or an element present).
    Raises ``InvalidInput`` for a path the schema does not have.
    """

    def __init__(
        self,
        root: XdmField,
        targets: Mapping[str, str],
        constant_paths: frozenset[str] = frozenset(),
        *,
        max_problems: int = MAX_PROBLEMS,
    ) -> None:
        if root.type is not XdmType.OBJECT:
            raise InvalidInput("A dataset schema's root must be an object")
        unknown = sorted(constant_paths - set(targets))
        if unknown:
            raise InvalidInput(f"Constant paths without a target: {', '.join(unknown)}")
        self.max_problems = max_problems
        self._tree = _Node(root)
        self._leaves = [
            self._add(path, column, path in constant_paths) for path, column in targets.items()
        ]
        root_type = _merged_type(root, [self._tree])
        self.output_schema = pa.schema(list(root_type))

    def _add(self, path: str, column: str, constant: bool) -> _Leaf:
        node = self._tree
        for step in _steps(path):
            child = node.field.child(step)
            if child is None or step == "*":
                raise InvalidInput(f"{path}: the dataset's schema has no field {step!r} here")
            parent = node
            if parent.field.type is XdmType.ARRAY:
                step = str(int(step))
            node = parent.children.setdefault(step, _Node(child))
            if parent.field.type is XdmType.ARRAY:  # elements in index order
                parent.children = dict(sorted(parent.children.items(), key=lambda c: int(c[0])))
        if node.field.type in _CONTAINERS:
            raise InvalidInput(f"{path} is an {node.field.type}: map the fields inside it")
        if node.leaf is not None:
            raise InvalidInput(f"{path} is mapped twice")
        node.leaf = _Leaf(path, column, node.field, constant)
        return node.leaf

    def shape(self, batch: pa.RecordBatch) -> ShapedBatch:
        """Convert, check and nest ``batch``; rows with a bad value are left out."""
        rows = batch.num_rows
        rejected = pa.repeat(False, rows)
        problems: list[Problem] = []
        converted: dict[str, pa.Array] = {}
        for leaf in self._leaves:
            if batch.schema.get_field_index(leaf.column) < 0:
                raise InvalidInput(f"{leaf.path}: the batch has no column {leaf.column!r}")
            source = batch.column(leaf.column)
            values, failures = _convert_leaf(source, leaf.field)
            unreadable = batch.schema.get_field_index(UNREADABLE_PREFIX + leaf.column)
            if unreadable >= 0:  # a value no Arrow type holds (a MySQL zero date)
                texts = batch.column(unreadable)
                failures.append((pc.is_valid(texts), UNREADABLE_REASON))
                source = pc.coalesce(pc.cast(source, pa.string()), texts)
            for failed, reason in failures:
                rejected = pc.or_(rejected, failed)
                self._sample(problems, leaf, source, failed, reason)
            converted[leaf.path] = values
        if rejected.true_count:
            accepted = pc.invert(rejected)
            converted = {path: values.filter(accepted) for path, values in converted.items()}
            rows -= rejected.true_count
        columns = [
            _build(self._tree.children[out.name], out.type, converted, rows)[0]
            for out in self.output_schema
        ]
        records = pa.RecordBatch.from_arrays(columns, schema=self.output_schema)
        return ShapedBatch(records=records, rejected=rejected, problems=problems)

    def _sample(
        self,
        problems: list[Problem],
        leaf: _Leaf,
        source: pa.Array,
        failed: pa.BooleanArray,
        reason: str,
    ) -> None:
        room = self.max_problems - len(problems)
        if room <= 0:
            return
        rows = pc.indices_nonzero(failed).slice(0, room)
        values = source.take(rows).to_pylist()
        problems.extend(
            Problem(row, leaf.path, value, reason)
            for row, value in zip(rows.to_pylist(), values, strict=True)
        )


def _steps(path: str) -> list[str]:
    steps = path.split("/")[1:]
    if not path.startswith("/") or not steps or "" in steps:
        raise InvalidInput(f"{path!r} is not an XED path such as /person/name/firstName")
    return steps


# -- nesting ---------------------------------------------------------------------------------


def _merged_type(xdm: XdmField, nodes: list[_Node]) -> pa.DataType:
    """The Arrow type holding the mapped branches of ``nodes``, all at field ``xdm`` (the
    elements of one array, or the values of one map, share one type)."""
    if xdm.type not in _CONTAINERS:
        return arrow_type(xdm)
    if xdm.type is XdmType.OBJECT:
        fields = []
        for name, child in xdm.children.items():
            group = [node.children[name] for node in nodes if name in node.children]
            if group:
                fields.append(pa.field(name, _merged_type(child, group)))
        return pa.struct(fields)
    assert xdm.items is not None
    item = _merged_type(xdm.items, [c for node in nodes for c in node.children.values()])
    return pa.list_(item) if xdm.type is XdmType.ARRAY else pa.map_(pa.string(), item)


Built = tuple[pa.Array, pa.BooleanArray | None]
"""An array and its presence per row (``None``: constants only, always present)."""


def _build(node: _Node, dtype: pa.DataType, columns: Mapping[str, pa.Array], rows: int) -> Built:
    if node.leaf is not None:
        values = columns[node.leaf.path]
        return values, None if node.leaf.constant else pc.is_valid(values)
    if pa.types.is_struct(dtype):
        arrays, presences = [], []
        for out in dtype:
            child = node.children.get(out.name)
            if child is None:
                arrays.append(pa.nulls(rows, out.type))
                continue
            array, present = _build(child, out.type, columns, rows)
            arrays.append(array)
            if present is not None:
                presences.append(present)
        present = functools.reduce(pc.or_, presences) if presences else None
        struct = pa.StructArray.from_arrays(arrays, fields=list(dtype), mask=_nulls(present))
        return struct, present
    is_map = pa.types.is_map(dtype)
    item_type = dtype.item_type if is_map else dtype.value_type
    parts = [_build(child, item_type, columns, rows) for child in node.children.values()]
    values, offsets, which, present = _gather(parts, rows)
    if is_map:
        keys = pa.array(list(node.children), pa.string()).take(which)
        nested = pa.MapArray.from_arrays(offsets, keys, values, type=dtype, mask=_nulls(present))
    else:
        nested = pa.ListArray.from_arrays(offsets, values, type=dtype, mask=_nulls(present))
    return nested, present


def _gather(
    parts: list[Built], rows: int
) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray | None]:
    """The present parts of each row, row by row, as list values with their offsets.

    Answers the values, the offsets, which part each value comes from, and whether a row
    has any value (``None`` when every part is always present).
    """
    count = len(parts)
    always = pa.repeat(True, rows)
    presences = [always if present is None else present for _, present in parts]
    position = pc.cast(pc.indices_nonzero(pa.repeat(True, rows * count)), pa.int64())
    row = pc.divide(position, count)
    part = pc.subtract(position, pc.multiply(row, count))
    source = pc.add(pc.multiply(part, rows), row)  # the parts are concatenated one after another
    keep = pa.concat_arrays(presences).take(source)
    values = pa.concat_arrays([array for array, _ in parts]).take(source.filter(keep))
    counts = functools.reduce(pc.add, [pc.cast(p, pa.int32()) for p in presences])
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(counts)])
    every_part_constant = all(present is None for _, present in parts)
    present = None if every_part_constant else pc.greater(counts, 0)
    return values, offsets, pc.cast(part.filter(keep), pa.int32()), present


def _nulls(present: pa.BooleanArray | None) -> pa.BooleanArray | None:
    return None if present is None else pc.invert(present)


# -- conversions -----------------------------------------------------------------------------


def _convert_leaf(
    source: pa.Array, xdm: XdmField
) -> tuple[pa.Array, list[tuple[pa.BooleanArray, str]]]:
    """The values converted to the field's type, and the failures: (rows, reason)."""
    if isinstance(source.type, pa.BaseExtensionType):
        source = source.storage
    if pa.types.is_dictionary(source.type):
        source = source.dictionary_decode()
    if _is_text(source.type) and xdm.type is not XdmType.STRING:
        source = pc.utf8_trim_whitespace(source)
        source = pc.if_else(pc.equal(source, ""), pa.scalar(None, source.type), source)
    values = _convert(source, xdm)
    failures = []
    # A conversion keeps every null: it failed on some value only if it made more nulls.
    if values.null_count != source.null_count:
        failures.append((pc.and_(pc.is_valid(source), pc.is_null(values)), _reason(xdm)))
    if xdm.enum:
        allowed = _enum_values(xdm.enum, values.type)
        outside = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))
        if outside.true_count:
            values = pc.if_else(outside, pa.scalar(None, values.type), values)
            shown = ", ".join(map(str, xdm.enum[:10])) + (", ..." if len(xdm.enum) > 10 else "")
            failures.append((outside, f"not one of the allowed values ({shown})"))
    return values, [(rows, reason) for rows, reason in failures if rows.true_count]


def _reason(xdm: XdmField) -> str:
    bits = f" of {xdm.integer_bits} bits" if xdm.integer_bits else ""
    return f"not a valid {xdm.type}{bits}"


def _convert(source: pa.Array, xdm: XdmField) -> pa.Array:
    """``source`` as the field's type; null where a value does not convert."""
    kind = source.type
    target = arrow_type(xdm)
    number = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    match xdm.type:
        case XdmType.STRING if pa.types.is_timestamp(kind):
            utc = pc.cast(source, pa.timestamp(kind.unit, tz="UTC"))
            return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
        case XdmType.STRING if not pa.types.is_nested(kind):
            return _try_cast(source, target)
        case XdmType.INTEGER if number or _is_text(kind):
            return _to_integer(source, target)
        case XdmType.NUMBER if number:
            return _finite(_try_cast(source, target))
        case XdmType.NUMBER if _is_text(kind):
            return _finite(_try_cast(_matching(source, _NUMBER), target))
        case XdmType.BOOLEAN if pa.types.is_boolean(kind):
            return source
        case XdmType.BOOLEAN if pa.types.is_integer(kind):
            zero_or_one = pc.is_in(source, value_set=pa.array([0, 1], kind))
            return pc.cast(_where(zero_or_one, source), target)
        case XdmType.DATE | XdmType.DATE_TIME:
            return _to_time(source, xdm.type, target)
    return pa.nulls(len(source), target)


def _to_integer(source: pa.Array, target: pa.DataType) -> pa.Array:
    if _is_text(source.type):
        unsigned = pc.replace_substring_regex(_matching(source, _INTEGER), r"^\+", "")
        wide = _try_cast(unsigned, pa.int64())
    elif pa.types.is_integer(source.type):
        wide = _try_cast(source, pa.int64())
    else:
        real = _finite(_try_cast(source, pa.float64()))
        wide = _try_cast(_where(pc.equal(pc.floor(real), real), real), pa.int64())
    bits = target.bit_width
    in_range = pc.and_(
        pc.greater_equal(wide, -(2 ** (bits - 1))), pc.less_equal(wide, 2 ** (bits - 1) - 1)
    )
    return pc.cast(_where(in_range, wide), target)


def _to_time(source: pa.Array, kind: XdmType, target: pa.DataType) -> pa.Array:
    """Dates and date-times from time values, epoch milliseconds or ISO-8601 text."""
    given = source.type
    if pa.types.is_timestamp(given):
        moment = pc.cast(source, pa.timestamp(given.unit, tz="UTC"))
    elif pa.types.is_date(given):
        moment = pc.cast(pc.cast(source, pa.timestamp("us")), _UTC_MICROS)
    elif pa.types.is_integer(given):
        low, high = _EPOCH_MS_RANGE
        millis = _where(pc.and_(pc.greater_equal(source, low), pc.less_equal(source, high)), source)
        moment = pc.cast(pc.cast(millis, pa.int64()), pa.timestamp("ms", tz="UTC"))
    elif _is_text(given) and kind is XdmType.DATE:
        dated = pc.utf8_slice_codeunits(_matching(source, _DATE), 0, 10)
        return _try_cast(pc.cast(dated, pa.string()), target)
    elif _is_text(given):
        text = pc.cast(_matching(source, _DATE_TIME), pa.string())
        zoned = pc.match_substring_regex(text, _ZONED)
        with_zone = _try_cast(_where(zoned, text), _UTC_MICROS)
        naive = _try_cast(_where(pc.invert(zoned), text), pa.timestamp("us"))
        return pc.coalesce(with_zone, pc.cast(naive, _UTC_MICROS))
    else:
        return pa.nulls(len(source), target)
    if kind is XdmType.DATE:
        return pc.cast(moment, target)
    return pc.cast(moment, target, safe=False)


def _try_cast(array: pa.Array, target: pa.DataType) -> pa.Array:
    """``array`` cast to ``target``, null where a value does not convert; halves the array
    until the failing values are isolated, so a clean column costs one cast."""
    try:
        return pc.cast(array, target)
    except pa.ArrowNotImplementedError:
        return pa.nulls(len(array), target)
    except pa.ArrowInvalid:
        if len(array) <= 1:
            return pa.nulls(len(array), target)
    half = len(array) // 2
    return pa.concat_arrays(
        [_try_cast(array.slice(0, half), target), _try_cast(array.slice(half), target)]
    )


def _matching(text: pa.Array, pattern: str) -> pa.Array:
    return _where(pc.match_substring_regex(text, pattern), text)


def _where(condition: pa.BooleanArray, values: pa.Array) -> pa.Array:
    """``values`` where ``condition`` holds, null elsewhere (and where it is null)."""
    return pc.if_else(condition, values, pa.scalar(None, values.type))


def _finite(values: pa.Array) -> pa.Array:
    return _where(pc.is_finite(values), values)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _enum_values(enum: tuple[object, ...], target: pa.DataType) -> pa.Array:
    """The enumeration as an array of the field's type, leaving out what does not fit."""
    try:
        return pa.array(list(enum), type=target)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return _try_cast(pa.array([str(value) for value in enum]), target).drop_null()
