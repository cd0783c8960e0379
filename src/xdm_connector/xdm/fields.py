"""The field tree of an XED schema: what a mapping can write, and with which type.

Each node's ``path`` is its XED slash path (``/person/name/firstName``; ``/`` for the
root). Below a map or an array, ``*`` stands for any key or index: the identity items of
``identityMap`` are at ``/identityMap/*/*`` and their ``id`` at ``/identityMap/*/*/id``.
Schema nodes whose type cannot be told (no ``type``, ``properties`` nor ``items``, as in a
``oneOf`` of a string and an object) are left out of the tree; the JSON schema still
validates them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

ANY_STEP = "*"

INTEGER_BITS: Mapping[str, int] = MappingProxyType({"byte": 8, "short": 16, "int": 32, "long": 64})


class XdmType(StrEnum):
    """The XDM type of a field, with dates and maps told apart from strings and objects."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATE_TIME = "date-time"
    OBJECT = "object"
    ARRAY = "array"
    MAP = "map"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


_JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array"})


@dataclass(frozen=True)
class XdmField:
    """One node of an XED schema.

    ``enum`` constrains the values; ``enum_labels`` (from ``meta:enum``) names them, and
    without ``enum`` it is a list of suggestions only. ``integer_bits`` is ``None`` for a
    plain ``integer`` (a 64-bit long). ``items`` is the element of an array or the value of
    a map.
    """

    path: str
    name: str
    type: XdmType
    format: str | None = None
    enum: tuple[object, ...] = ()
    enum_labels: Mapping[str, str] = field(default_factory=_empty, hash=False)
    integer_bits: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    required: frozenset[str] = frozenset()
    children: Mapping[str, XdmField] = field(default_factory=_empty, hash=False)
    items: XdmField | None = None
    title: str | None = None
    description: str | None = None

    def walk(self) -> Iterator[XdmField]:
        """Every descendant, depth first, parents before their children (``self`` excluded).

        On a profile schema's root the walk goes ``/person``, ``/person/name``,
        ``/person/name/firstName``, ... and an array's element comes as ``.../*``.
        """
        for child in self.children.values():
            yield child
            yield from child.walk()
        if self.items is not None:
            yield self.items
            yield from self.items.walk()

    def child(self, step: str) -> XdmField | None:
        """The node one path step below: a property, any map key, or an array index."""
        if self.type is XdmType.OBJECT:
            return self.children.get(step)
        if self.type is XdmType.MAP:
            return self.items
        if self.type is XdmType.ARRAY and (step.isdigit() or step == ANY_STEP):
            return self.items
        return None


def build_field(schema: Mapping[str, Any], path: str = "/", name: str = "") -> XdmField | None:
    """The field tree of a resolved XED schema node; ``None`` when its type is unknown."""
    json_type = _json_type(schema)
    if json_type is None:
        return None
    xdm_type = _xdm_type(schema, json_type)
    children: dict[str, XdmField] = {}
    items: XdmField | None = None
    if xdm_type is XdmType.OBJECT:
        for child_name, child_schema in schema.get("properties", {}).items():
            child = build_field(child_schema, _join(path, child_name), child_name)
            if child is not None:
                children[child_name] = child
    elif xdm_type is XdmType.MAP and isinstance(schema.get("additionalProperties"), Mapping):
        items = build_field(schema["additionalProperties"], _join(path, ANY_STEP), ANY_STEP)
    elif xdm_type is XdmType.ARRAY and isinstance(schema.get("items"), Mapping):
        items = build_field(schema["items"], _join(path, ANY_STEP), ANY_STEP)
    labels = schema.get("meta:enum")
    return XdmField(
        path=path,
        name=name,
        type=xdm_type,
        format=None if xdm_type in (XdmType.DATE, XdmType.DATE_TIME) else schema.get("format"),
        enum=tuple(schema.get("enum", ())),
        enum_labels=MappingProxyType(dict(labels)) if isinstance(labels, Mapping) else _EMPTY,
        integer_bits=INTEGER_BITS.get(schema.get("meta:xdmType", "")),
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        max_length=schema.get("maxLength"),
        pattern=schema.get("pattern"),
        required=frozenset(schema.get("required", ())),
        children=MappingProxyType(children),
        items=items,
        title=schema.get("title"),
        description=schema.get("description"),
    )


def _json_type(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), None)
    if isinstance(declared, str):
        return declared if declared in _JSON_TYPES else None
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _xdm_type(schema: Mapping[str, Any], json_type: str) -> XdmType:
    if json_type == "string" and schema.get("format") in (XdmType.DATE, XdmType.DATE_TIME):
        return XdmType(schema["format"])
    if json_type == "object" and _is_map(schema):
        return XdmType.MAP
    return XdmType(json_type)


def _is_map(schema: Mapping[str, Any]) -> bool:
    if schema.get("meta:xdmType") == XdmType.MAP:
        return True
    extra = schema.get("additionalProperties")
    return isinstance(extra, Mapping) and not schema.get("properties")


def _join(path: str, name: str) -> str:
    return f"{path.rstrip('/')}/{name}"
