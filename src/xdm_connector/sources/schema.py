"""Resources of a source database: a table or view, its key and its links, by reflection.

A **link** is a many-to-one relation found from a foreign key. Its name is the foreign-key
column's name without a trailing ``_id`` (any case), ``Id`` or ``ID``: ``postalAddress_id``
and ``postalAddressId`` give ``postalAddress``, ``postal_address_ID`` gives
``postal_address``. A foreign key of several columns, or a column whose name is nothing
but the suffix, is named after the referred table. Names from columns are given first (in
column order), then those from tables; a name already taken by another link of the same
resource (case-insensitively) becomes ``<referred table>_<columns joined by _>``, and if
that is taken too, gets ``_2``, ``_3``... appended.

Links are followed recursively up to ``max_depth`` (4 by default): a link's target has its
own links, one level less deep. A table that links back to itself or to an ancestor is
followed until that limit too, so ``[manager/manager/@email]`` works and reflection ends.
Each table is reflected once per call.

Names of tables, fields and links match case-insensitively (an exact match wins). A name
given by a user is only compared with the names reflection lists; it never reaches SQL.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Inspector

from xdm_connector.errors import InvalidInput

MAX_LINK_DEPTH = 4

_ID_SUFFIX = re.compile(r"(?:_[iI][dD]|Id|ID)$")


@dataclass(frozen=True, eq=False)
class Link:
    """A many-to-one relation: ``columns`` of the source equal ``target_columns`` of target."""

    name: str
    columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    target: Resource


@dataclass(frozen=True, eq=False)
class Resource:
    """A table or view with its key columns and links, as reflected from the database."""

    table: sa.Table
    key: tuple[str, ...]
    links: tuple[Link, ...]

    @property
    def name(self) -> str:
        """The table's name as the database spells it."""
        return self.table.name

    def find_column(self, name: str) -> sa.Column[Any] | None:
        """The column called ``name`` (case-insensitively), or ``None``."""
        found = _match(name, [column.name for column in self.table.columns])
        return None if found is None else self.table.columns[found]

    def find_link(self, name: str) -> Link | None:
        """The link called ``name`` (case-insensitively), or ``None``."""
        found = _match(name, [link.name for link in self.links])
        return next((link for link in self.links if link.name == found), None)


def did_you_mean(name: str, candidates: Sequence[str], *, prefix: str = "") -> str:
    """`` (did you mean X?)`` for the closest of ``candidates`` (case-insensitive), or ``""``."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{by_lower[close[0]]}?)" if close else ""


def describe_resource(
    bind: Engine | Connection,
    name: str,
    *,
    key: Sequence[str] | None = None,
    schema: str | None = None,
    max_depth: int = MAX_LINK_DEPTH,
) -> Resource:
    """Reflect the table or view ``name`` with its links, ``max_depth`` links deep.

    ``key`` names the key columns of a view or of a table without a primary key (or
    overrides the primary key). Raises ``InvalidInput`` for an unknown name or a missing key.

    Example: ``describe_resource(engine, "profile").find_link("postalAddress")``.
    """
    inspector = sa.inspect(bind)
    known = [*inspector.get_table_names(schema=schema), *inspector.get_view_names(schema=schema)]
    found = _match(name, known)
    if found is None:
        raise InvalidInput(f"unknown table or view {name!r}{did_you_mean(name, known)}")
    reflector = _Reflector(inspector)
    root = reflector.resource(found, schema, max_depth)
    if key is None:
        if not root.key:
            raise InvalidInput(
                f"{found} has no primary key: name its key columns (a view never has one)"
            )
        return root
    columns = [column.name for column in root.table.columns]
    chosen = []
    for column in key:
        match = _match(column, columns)
        if match is None:
            raise InvalidInput(f"{found} has no column {column!r}{did_you_mean(column, columns)}")
        chosen.append(match)
    if not chosen:
        raise InvalidInput("the key needs at least one column")
    return Resource(root.table, tuple(chosen), root.links)


def link_name(columns: Sequence[str], referred_table: str) -> str:
    """The name of a link over the foreign-key ``columns`` (see the module's rule)."""
    return _name_from_columns(columns) or referred_table


def _name_from_columns(columns: Sequence[str]) -> str | None:
    if len(columns) != 1:
        return None
    return _ID_SUFFIX.sub("", columns[0]) or None


def _match(name: str, candidates: Sequence[str]) -> str | None:
    if name in candidates:
        return name
    folded = [candidate for candidate in candidates if candidate.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


class _Reflector:
    """Reflects each table once and shares resources of equal depth."""

    def __init__(self, inspector: Inspector) -> None:
        self._inspector = inspector
        self._metadata = sa.MetaData()
        self._tables: dict[tuple[str | None, str], sa.Table] = {}
        self._resources: dict[tuple[str | None, str, int], Resource] = {}

    def resource(self, name: str, schema: str | None, depth: int) -> Resource:
        memo = (schema, name, depth)
        if memo not in self._resources:
            table = self._table(name, schema)
            primary = self._inspector.get_pk_constraint(name, schema=schema)
            key = tuple(primary.get("constrained_columns") or ())
            links = self._links(name, schema, depth) if depth > 0 else ()
            self._resources[memo] = Resource(table, key, links)
        return self._resources[memo]

    def _table(self, name: str, schema: str | None) -> sa.Table:
        if (schema, name) not in self._tables:
            # The columns and the primary key only: a read needs no more, and
            # ``reflect_table`` also queries indexes, constraints, comments and options
            # (on PostgreSQL, 60 ms a first time for two tables, against 25).
            primary = self._inspector.get_pk_constraint(name, schema=schema)
            key = set(primary.get("constrained_columns") or ())
            mysql = self._inspector.dialect.name in ("mysql", "mariadb")
            columns = [
                sa.Column(
                    column["name"],
                    sa.Boolean() if mysql and _is_mysql_boolean(column["type"]) else column["type"],
                    nullable=column["nullable"],
                    primary_key=column["name"] in key,
                )
                for column in self._inspector.get_columns(name, schema=schema)
            ]
            self._tables[(schema, name)] = sa.Table(name, self._metadata, *columns, schema=schema)
        return self._tables[(schema, name)]

    def _links(self, name: str, schema: str | None, depth: int) -> tuple[Link, ...]:
        foreign_keys = self._inspector.get_foreign_keys(name, schema=schema)
        links: list[Link] = []
        taken: set[str] = set()
        # Names from a column first, so that a fallback never takes a column's name.
        ordered = sorted(
            foreign_keys,
            key=lambda fk: (
                _name_from_columns(fk["constrained_columns"]) is None,
                fk["constrained_columns"],
            ),
        )
        for fk in ordered:
            columns = tuple(fk["constrained_columns"])
            referred = fk["referred_table"]
            label = link_name(columns, referred)
            if label.lower() in taken:
                label = "_".join((referred, *columns))
            base, number = label, 1
            while label.lower() in taken:
                number += 1
                label = f"{base}_{number}"
            taken.add(label.lower())
            target_schema = fk.get("referred_schema") or schema
            target = self.resource(referred, target_schema, depth - 1)
            target_columns = tuple(fk["referred_columns"])
            if not target.key:
                target = Resource(target.table, target_columns, target.links)
            links.append(Link(label, columns, target_columns, target))
        return tuple(links)


def _is_mysql_boolean(kind: sa.types.TypeEngine[Any]) -> bool:
    """MySQL's ``BOOLEAN`` is ``tinyint(1)``, and reflects as that: read it as a boolean."""
    # Imported here: a MySQL reflection has loaded SQLAlchemy's MySQL dialects already,
    # which a process reading other databases need not load (about 50 ms).
    from sqlalchemy.dialects import mysql

    return isinstance(kind, mysql.TINYINT) and kind.display_width == 1
