"""Compilation of expressions to SQLAlchemy Core over one resource and its links.

One :class:`ExpressionCompiler` serves one targeting dimension: it owns one aliased
``LEFT OUTER JOIN`` per link path that its expressions use, so two expressions reading
``[postalAddress/@...]`` share a join. Literals become bound parameters; the user's text
never reaches SQL.

Each compiled column carries the SQLAlchemy type of its value type (``String``,
``BigInteger``, ``Float``, ``Boolean``, ``Date``, ``DateTime``), so a row read through
SQLAlchemy holds ``str``, ``int``, ``float``, ``bool``, ``date`` and ``datetime`` on every
database. On the wire, PostgreSQL sends booleans as ``boolean``; SQLite and MySQL send
``1``/``0`` integers (NULL stays NULL), which a raw reader casts to booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions.ast import Binary, Call, FieldRef, Literal, Node, Unary, field_refs
from xdm_connector.expressions.calls import Typed, compile_call, constant
from xdm_connector.expressions.exdm import compile_exdm
from xdm_connector.expressions.grammar import parse
from xdm_connector.expressions.operators import compile_binary, compile_unary
from xdm_connector.expressions.value_types import ValueType, check_target, sql_type, value_type_of
from xdm_connector.sources.schema import Resource, did_you_mean

LinkPath = tuple[str, ...]


@dataclass(frozen=True)
class CompiledExpression:
    """An expression ready for a ``SELECT``: its SQL, type and the links it reads."""

    text: str
    column: sa.ColumnElement[Any]
    type: ValueType
    is_constant: bool
    links: tuple[LinkPath, ...]


@dataclass(frozen=True)
class _Join:
    alias: sa.FromClause
    onclause: sa.ColumnElement[bool]


class ExpressionCompiler:
    """Compiles expressions over ``resource``; :meth:`select` puts them in one query.

    Example::

        compiler = ExpressionCompiler(describe_resource(engine, "profile"))
        email = compiler.compile("Lower(@email)", target_type="string")
        status = compiler.compile("Iif([postalAddress/@addrDefined]=0, 'no', 'yes')")
        query = compiler.select({"email": email, "status": status})
        query = query.order_by(*compiler.key_columns)
    """

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self._joins: dict[LinkPath, _Join] = {}

    @property
    def root(self) -> sa.Table:
        """The targeting dimension's table, unaliased, for ``WHERE`` and ``ORDER BY``."""
        return self.resource.table

    @property
    def key_columns(self) -> tuple[sa.Column[Any], ...]:
        """The root's key columns, in key order."""
        return tuple(self.root.columns[name] for name in self.resource.key)

    def compile(
        self,
        text: str,
        *,
        target_type: str | None = None,
        exdm_enum: Mapping[object, str] | None = None,
        exdm_values: Mapping[str, str] | None = None,
    ) -> CompiledExpression:
        """Parse, type-check and compile ``text``; ``ExpressionError`` says where it is wrong.

        ``target_type`` is the XDM type of the field it fills (checked by ``check_target``);
        ``exdm_enum`` (XDM value → label) and ``exdm_values`` (source value → XDM value)
        serve an expression ``EXDM(...)``.
        """
        tree = parse(text)
        used: list[LinkPath] = []
        if isinstance(tree, Call) and tree.name == "EXDM":
            subject = self._node(tree.args[0], used)
            typed = compile_exdm(tree, subject, exdm_enum, exdm_values)
        else:
            typed = self._node(tree, used)
        if target_type is not None:
            problem = check_target(typed.type, target_type)
            if problem is not None:
                raise ExpressionError(problem)
        column = typed.column
        if typed.type is not ValueType.NULL:
            column = sa.type_coerce(column, sql_type(typed.type))
        return CompiledExpression(
            text=text,
            column=column,
            type=typed.type,
            is_constant=not field_refs(tree),
            links=tuple(dict.fromkeys(used)),
        )

    def select(self, columns: Mapping[str, CompiledExpression]) -> sa.Select[Any]:
        """``SELECT expr AS label, ... FROM root LEFT OUTER JOIN`` each link path used."""
        if not columns:
            raise ValueError("select needs at least one column")
        paths: set[LinkPath] = set()
        for compiled in columns.values():
            for path in compiled.links:
                paths.update(path[:length] for length in range(1, len(path) + 1))
        unknown = paths - self._joins.keys()
        if unknown:
            raise ValueError(f"links {sorted(unknown)} were compiled by another compiler")
        source: sa.FromClause = self.root
        for path in sorted(paths, key=lambda path: (len(path), path)):
            join = self._joins[path]
            source = source.outerjoin(join.alias, join.onclause)
        labelled = [compiled.column.label(label) for label, compiled in columns.items()]
        return sa.select(*labelled).select_from(source)

    def _node(self, node: Node, used: list[LinkPath]) -> Typed:
        match node:
            case Literal(value=None):
                return Typed(sa.null(), ValueType.NULL)
            case Literal(value=value, type=value_type):
                return Typed(constant(value, value_type), value_type)
            case FieldRef():
                return self._field(node, used)
            case Unary(operand=operand):
                return compile_unary(node, self._node(operand, used))
            case Binary(left=left, right=right):
                return compile_binary(node, self._node(left, used), self._node(right, used))
            case Call(args=args):
                return compile_call(node, [self._node(arg, used) for arg in args])
        raise AssertionError(node)

    def _field(self, ref: FieldRef, used: list[LinkPath]) -> Typed:
        resource = self.resource
        source: sa.FromClause = self.root
        path: LinkPath = ()
        for index, name in enumerate(ref.links):
            link = resource.find_link(name)
            if link is None:
                known = [link.name for link in resource.links]
                where = ref.link_position(index)
                raise ExpressionError(
                    f"unknown link {name} of {resource.name}{did_you_mean(name, known)}",
                    line=where.line,
                    column=where.column,
                )
            path = (*path, link.name)
            if path not in self._joins:
                alias = link.target.table.alias()
                pairs = zip(link.columns, link.target_columns, strict=True)
                onclause = sa.and_(*(source.c[mine] == alias.c[theirs] for mine, theirs in pairs))
                self._joins[path] = _Join(alias, onclause)
            source = self._joins[path].alias
            resource = link.target
        if path:
            used.append(path)
        return self._column(ref, resource, source)

    def _column(self, ref: FieldRef, resource: Resource, source: sa.FromClause) -> Typed:
        where = ref.name_position()
        column = resource.find_column(ref.name)
        if column is None:
            known = [column.name for column in resource.table.columns]
            owner = f" of {'/'.join(ref.links)}" if ref.links else ""
            hint = did_you_mean(ref.name, known, prefix="@")
            raise ExpressionError(
                f"unknown field @{ref.name}{owner}{hint}", line=where.line, column=where.column
            )
        value_type = value_type_of(column.type)
        if value_type is None:
            raise ExpressionError(
                f"field @{column.name} has the SQL type {column.type!r}, which expressions "
                "cannot read",
                line=where.line,
                column=where.column,
            )
        selected: sa.ColumnElement[Any] = source.c[column.name]
        if isinstance(column.type, sa.Uuid):
            selected = sa.cast(selected, sa.String())
        return Typed(selected, value_type)
