"""Planning one export: the mapping compiled against its source and its dataset's schema.

``plan_export`` checks everything a publication checks (every XDM path exists in the
schema, every expression parses, type-checks against the source's columns and converts
to its field's type) and names every problem at once; the source's side of it is the
mapping's targeting dimension as ``describe_targeting_dimension`` finds it. The plan then builds the queries of
a job: the high-water mark, and the rows of a window over ``(audit value, key)``.

Windows and the look-back, and how a window is stored: ``domain/windows.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import ReturnTypeFromArgs

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.windows import Bound, KeyRange, Since, Window
from xdm_connector.errors import ExpressionError, InvalidInput
from xdm_connector.expressions.compiler import CompiledExpression, ExpressionCompiler
from xdm_connector.expressions.dialects import ByteOrdered
from xdm_connector.expressions.value_types import ValueType
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.schema import Resource, describe_resource
from xdm_connector.xdm.fields import XdmField, XdmType
from xdm_connector.xdm.schema import XedSchema

KEY_LABEL = "_key"
AUDIT_LABEL = "_audit"
DELETED_LABEL = "_deleted"
"""The rows' column of the mapping's ``softDeleteWhen``: true, the record is deleted."""
IN_WINDOW_LABEL = "_in_window"
"""A reconciliation's column: whether the row is in the job's window (its slices read it)."""


class Greatest(ReturnTypeFromArgs[Any]):
    """``greatest(a, b, ...)``; SQLite spells it as the scalar ``max(a, b, ...)``."""

    name = "greatest"
    inherit_cache = True


@compiles(Greatest, "sqlite")
def _greatest_sqlite(element: Greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True)
class Problem:
    """One reason a mapping cannot run, with the original's code where it has one."""

    code: str
    message: str


class MappingInvalid(InvalidInput):
    """A mapping that cannot be published or run; ``problems`` lists every reason."""

    code = "ACP-880185"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{problem.code} {problem.message}" for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class ExportPlan:
    """A mapping compiled for one source and one dataset schema."""

    definition: MappingDefinition
    schema: XedSchema
    compiler: ExpressionCompiler
    targets: dict[str, CompiledExpression]
    """XDM path → compiled source expression, in the mapping's order."""
    audit: CompiledExpression
    deleted: CompiledExpression | None = None
    """The mapping's ``softDeleteWhen``, a boolean (None: no record is soft-deleted)."""

    @property
    def labels(self) -> dict[str, str]:
        """XDM path → the column label it has in the rows' query."""
        return {path: f"c{index}" for index, path in enumerate(self.targets)}

    @property
    def constant_paths(self) -> frozenset[str]:
        """XDM paths filled by constants (a literal, or a function of literals)."""
        return frozenset(path for path, compiled in self.targets.items() if compiled.is_constant)

    @property
    def key(self) -> sa.ColumnElement[Any]:
        """The targeting dimension's key column, the tie-breaker of the export order."""
        return self.compiler.key_columns[0]

    @property
    def ordered_key(self) -> sa.ColumnElement[Any]:
        """The key as the export orders and compares it: as Python does (``ByteOrdered``:
        a string by its code points, whatever its column's collation)."""
        return ByteOrdered(self.key)

    @property
    def _audit(self) -> sa.ColumnElement[Any]:
        return ByteOrdered(self.audit.column)

    def _key_value(self, value: Any) -> sa.ColumnElement[Any]:
        return ByteOrdered(sa.literal(value, self.key.type))

    def _audit_value(self, value: Any) -> sa.ColumnElement[Any]:
        return ByteOrdered(sa.literal(value, self.audit.column.type))

    def high_water_query(self, after: Bound | None, since: Since | None = None) -> sa.Select[Any]:
        """The last row in export order after ``after`` (or in the look-back from
        ``since``): the job's upper bound."""
        query = self.compiler.select({"audit": self.audit}).add_columns(self.key.label("key"))
        query = query.where(self.audit.column.is_not(None))
        if after is not None:
            query = query.where(self._from(after, since))
        return query.order_by(self._audit.desc(), self.ordered_key.desc()).limit(1)

    def rows_query(self, window: Window, keys: KeyRange | None = None) -> sa.Select[Any]:
        """The window's rows (of one key range, for a slice), one labelled column per XDM
        path, plus the key and the audit value (``KEY_LABEL``, ``AUDIT_LABEL``)."""
        columns = {self.labels[path]: compiled for path, compiled in self.targets.items()}
        query = self._rows(columns).where(self._in_window(window))
        if keys is not None and keys.after is not None:
            query = query.where(self.ordered_key > self._key_value(keys.after))
        if keys is not None and keys.until is not None:
            query = query.where(self.ordered_key <= self._key_value(keys.until))
        return query

    def all_rows_query(self, window: Window | None = None) -> sa.Select[Any]:
        """Every row of the targeting dimension, in no order (a reconciliation joins its
        sides by ``_id``; without an ``ORDER BY`` a MySQL source is read by pages of its
        key, ``sources/mysql.py``); with ``window``, whether each is in it
        (``IN_WINDOW_LABEL``)."""
        columns = {self.labels[path]: compiled for path, compiled in self.targets.items()}
        query = self._rows(columns)
        if window is not None:
            inside = sa.type_coerce(self._in_window(window), sa.Boolean())
            query = query.add_columns(inside.label(IN_WINDOW_LABEL))
        return query

    def rows_by_key_query(self, keys: list[Any]) -> sa.Select[Any]:
        """The rows of ``keys`` (bound, never spliced into the SQL), like ``rows_query``."""
        columns = {self.labels[path]: compiled for path, compiled in self.targets.items()}
        return self._rows(columns).where(self.key.in_(keys))

    def rows_by_id_query(self, path: str, ids: list[Any]) -> sa.Select[Any]:
        """The rows whose value of the XDM field ``path`` (their ``_id``) is in ``ids``
        (bound), like ``rows_query``: a reconciliation's check of its deletes."""
        columns = {self.labels[path]: compiled for path, compiled in self.targets.items()}
        return self._rows(columns).where(self.targets[path].column.in_(ids))

    def _rows(self, columns: dict[str, CompiledExpression]) -> sa.Select[Any]:
        query = self.compiler.select(columns).add_columns(
            self.key.label(KEY_LABEL), self.audit.column.label(AUDIT_LABEL)
        )
        if self.deleted is not None:
            # NULL is not true: a record whose condition is unknown lives.
            flag = sa.func.coalesce(self.deleted.column, sa.false())
            query = query.add_columns(sa.type_coerce(flag, sa.Boolean()).label(DELETED_LABEL))
        return query

    def key_stats_query(self, window: Window) -> sa.Select[Any]:
        """The number of the window's rows, and its lowest and highest key.

        A first export's window is the whole table up to its high-water mark: the table's
        own figures stand for it (an index or two answer them, no row is read), close
        enough to cut it, since every slice still reads only the window's rows.
        """
        if window.after is None:
            # Three subqueries: each has its fast path (count of an index, ends of the key).
            figures = [sa.func.count(), sa.func.min(self.key), sa.func.max(self.key)]
            stats = sa.select(
                *(
                    sa.select(figure).select_from(self.key.table).scalar_subquery()
                    for figure in figures
                )
            )
            return cast("sa.Select[Any]", stats)
        numbered = (
            self.compiler.select({"audit": self.audit})
            .add_columns(self.key.label("key"))
            .where(self._in_window(window))
            .subquery("window_keys")
        )
        stats = sa.select(sa.func.count(), sa.func.min(numbered.c.key), sa.func.max(numbered.c.key))
        return cast("sa.Select[Any]", stats)

    def slice_keys_query(self, window: Window, rows_per_slice: int, rows: int) -> sa.Select[Any]:
        """The keys that cut the window's ``rows`` rows, in key order, into slices of
        ``rows_per_slice`` rows: every ``rows_per_slice``-th key but the last row's."""
        if rows_per_slice < 1:
            raise InvalidInput("rows_per_slice must be at least 1")
        numbered = (
            self.compiler.select({"audit": self.audit})
            .add_columns(
                self.key.label("key"),
                sa.func.row_number().over(order_by=self.ordered_key).label("position"),
            )
            .where(self._in_window(window))
            .subquery("numbered")
        )
        return (
            sa.select(numbered.c.key)
            .where(numbered.c.position % rows_per_slice == 0, numbered.c.position < rows)
            .order_by(ByteOrdered(numbered.c.key))
        )

    def _in_window(self, window: Window) -> sa.ColumnElement[bool]:
        until_audit = self._audit_value(window.until.audit)
        up_to = sa.or_(
            self._audit < until_audit,
            sa.and_(
                self._audit == until_audit, self.ordered_key <= self._key_value(window.until.key)
            ),
        )
        if window.after is None:
            return up_to
        return sa.and_(up_to, self._from(window.after, window.since))

    def _from(self, after: Bound, since: Since | None) -> sa.ColumnElement[bool]:
        after_audit = self._audit_value(after.audit)
        later = sa.or_(
            self._audit > after_audit,
            sa.and_(self._audit == after_audit, self.ordered_key > self._key_value(after.key)),
        )
        if since is None:
            return later
        since_audit = self._audit_value(since.audit)
        recent = self._audit > since_audit if since.exclusive else self._audit >= since_audit
        return sa.or_(later, recent)


SQLITE_SCHEMA_QUERY = sa.text(
    "SELECT group_concat(entry, char(30)) FROM ("
    " SELECT type || char(31) || name || char(31) || tbl_name || char(31) || coalesce(sql, '')"
    " AS entry FROM sqlite_master ORDER BY type, name)"
)
"""The whole schema of a SQLite database as one text: every table, view, index and
trigger with the statement that made it."""

# The user's schemas are all but information_schema and pg_* (pg_catalog, pg_toast...);
# the relations, tables (r, p), views (v, m) and foreign tables (f).
POSTGRESQL_SCHEMA_QUERY = sa.text(
    "SELECT md5(current_schema() || ' ' || coalesce(string_agg(entry, E'\\n' ORDER BY entry), ''))"
    " FROM ("
    " SELECT concat_ws(' ', 'r', c.oid, n.nspname, c.relname, c.relkind) AS entry"
    " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
    " UNION ALL"
    " SELECT concat_ws(' ', 'a', c.oid, a.attnum, a.attname,"
    " format_type(a.atttypid, a.atttypmod), a.attnotnull)"
    " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
    " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
    " UNION ALL"
    " SELECT concat_ws(' ', 'k', k.conrelid, k.conname, k.contype, k.conkey::text,"
    " k.confrelid, k.confkey::text)"
    " FROM pg_constraint AS k JOIN pg_namespace AS n ON n.oid = k.connamespace"
    " WHERE k.contype IN ('p', 'f', 'u')"
    " AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
    " UNION ALL"
    " SELECT concat_ws(' ', 'e', e.enumtypid, e.enumsortorder, e.enumlabel) FROM pg_enum AS e"
    ") AS entries"
)
"""A digest of what reflection reads in a PostgreSQL database, in one query of its
catalog: the default schema, and in every schema of the user's, each table and view, its
columns with their types, its keys and foreign keys, and the labels of each enumeration."""


def source_schema(source: SourceDatabase) -> str | None:
    """The source's whole schema as a text that changes whenever anything reflection
    reads changes (SQLite's ``sqlite_master``, a digest of PostgreSQL's catalog), or None
    where the source has no such cheap answer (MySQL's ``information_schema`` is slow)."""
    if source.backend == "sqlite":
        return str(source.scalar(SQLITE_SCHEMA_QUERY) or "")
    if source.backend == "postgresql":
        return str(source.scalar(POSTGRESQL_SCHEMA_QUERY) or "")
    return None


def describe_targeting_dimension(source: SourceDatabase, definition: MappingDefinition) -> Resource:
    """The mapping's targeting dimension in the source, with its links."""
    with source.translated_errors():
        return describe_resource(
            source.engine, definition.targeting_dimension, key=definition.primary_key
        )


def plan_export(definition: MappingDefinition, schema: XedSchema, resource: Resource) -> ExportPlan:
    """Compile ``definition``; ``MappingInvalid`` lists every problem found."""
    problems: list[Problem] = []
    if len(resource.key) != 1:
        problems.append(
            Problem(
                "ACP-880087",
                f"the targeting dimension {resource.name} needs a single-column key "
                f"(it has {len(resource.key)}); name one with primaryKey",
            )
        )
    compiler = ExpressionCompiler(resource)
    targets: dict[str, CompiledExpression] = {}
    for index, row in enumerate(definition.field_mappings):
        field = _target_field(schema, row.xdm, definition.map_to_xdm_array, problems)
        if field is None:
            continue
        if row.xdm in targets:
            problems.append(Problem("ACP-880189", f"The XDM field {row.xdm} is mapped twice"))
            continue
        try:
            targets[row.xdm] = compiler.compile(
                row.source,
                target_type=field.type.value,
                exdm_enum=_enum_labels(field),
                exdm_values=definition.exdm_values.get(row.xdm),
            )
        except ExpressionError as exc:
            problems.append(
                Problem("ACP-880087", f"fieldMappings[{index}] {row.source!r} → {row.xdm}: {exc}")
            )
    audit = _audit(compiler, definition, problems)
    deleted = _soft_delete(compiler, definition, problems)
    if problems or audit is None:
        raise MappingInvalid(problems)
    return ExportPlan(definition, schema, compiler, targets, audit, deleted)


def _target_field(
    schema: XedSchema, path: str, arrays_allowed: bool, problems: list[Problem]
) -> XdmField | None:
    field = schema.field_at(path)
    if field is None:
        problems.append(
            Problem("ACP-880189", f"The XDM field {path} is not a valid field of the XDM schema")
        )
        return None
    if field.type in (XdmType.OBJECT, XdmType.ARRAY, XdmType.MAP):
        problems.append(
            Problem("ACP-880189", f"The XDM field {path} is an {field.type.value}, not a value")
        )
        return None
    if not arrays_allowed and _crosses_array(schema, path):
        problems.append(
            Problem(
                "ACP-880189",
                f"The XDM field {path} is inside an array: set mapToXdmArray to map it",
            )
        )
        return None
    return field


def _crosses_array(schema: XedSchema, path: str) -> bool:
    node: XdmField | None = schema.root
    for step in path.strip("/").split("/"):
        if node is None:
            return False
        if node.type is XdmType.ARRAY:
            return True
        node = node.child(step)
    return False


def _enum_labels(field: XdmField) -> dict[object, str] | None:
    if field.enum:
        return {value: field.enum_labels.get(str(value), str(value)) for value in field.enum}
    if field.enum_labels:
        return dict(field.enum_labels.items())
    return None


def _soft_delete(
    compiler: ExpressionCompiler, definition: MappingDefinition, problems: list[Problem]
) -> CompiledExpression | None:
    """The mapping's ``softDeleteWhen``, compiled; a problem unless it is a boolean."""
    text = definition.deletes.soft_delete_when if definition.deletes else None
    if text is None:
        return None
    try:
        compiled = compiler.compile(text)
        if compiled.type is not ValueType.BOOLEAN:
            raise ExpressionError(
                f"softDeleteWhen must be a condition (true: deleted), not a {compiled.type}"
            )
    except ExpressionError as exc:
        problems.append(Problem("ACP-880087", f"deletes.softDeleteWhen {text!r}: {exc}"))
        return None
    return compiled


def _audit(
    compiler: ExpressionCompiler, definition: MappingDefinition, problems: list[Problem]
) -> CompiledExpression | None:
    compiled: list[CompiledExpression] = []
    for index, text in enumerate(definition.audit_fields):
        try:
            expression = compiler.compile(text)
        except ExpressionError as exc:
            problems.append(Problem("ACP-880087", f"auditFields[{index}] {text!r}: {exc}"))
            continue
        if expression.is_constant:
            problems.append(Problem("ACP-880087", f"auditFields[{index}] {text!r} is a constant"))
            continue
        compiled.append(expression)
    if len(compiled) != len(definition.audit_fields):
        return None
    if len(compiled) == 1:
        return compiled[0]
    # Several audit fields: a record changed when any of them did, so order by the latest.
    return CompiledExpression(
        text=", ".join(definition.audit_fields),
        column=Greatest(*(expression.column for expression in compiled)),
        type=compiled[0].type,
        is_constant=False,
        links=tuple(link for expression in compiled for link in expression.links),
    )
