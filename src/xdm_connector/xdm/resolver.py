"""Offline resolution of ``$ref`` and ``allOf`` into one self-contained schema.

A ``$ref`` names another schema's ``$id`` (``https://ns.adobe.com/xdm/context/person``),
optionally with a JSON pointer (``...#/definitions/person``), or a place in the same file
(``#/definitions/person``). Only the documents handed to the :class:`Resolver` are
consulted: nothing is ever fetched.

Resolution inlines every reference and folds each ``allOf`` into its parent, so that the
result has plain ``properties`` a reader can walk:

- the parts of a node (its ``$ref`` target, then each ``allOf`` branch, then the node's own
  keywords) are merged: ``properties`` by name (recursively), ``required`` as a union,
  equal values once; for annotations (``title``, ``description``, ``meta:*``, ...) the
  node's own value wins, then the first part's;
- a part that cannot be merged without changing what the schema accepts (another ``type``,
  an ``additionalProperties`` or ``patternProperties`` that would now see foreign
  properties) stays in a residual ``allOf``, resolved;
- ``$id``, ``$schema``, ``definitions``, the per-file ``meta:license``,
  ``meta:titleId``, ``meta:descriptionId``, and any key that is neither a JSON Schema
  keyword nor ``meta:*`` are dropped (validators ignore them; one is a property misplaced
  beside ``additionalProperties`` in ``consents-and-preferences``, ``$ref`` included);
- a reference cycle raises :class:`~xdm_connector.errors.InvalidInput` naming the cycle.

*Extensions* add a schema's properties to every whole-document reference of a data type
(the Campaign address extension onto each postal address); *ignored* references resolve to
the empty schema (the JSON-LD ``@context`` rules, meaningless in XED form).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from xdm_connector.errors import InvalidInput

Schema = dict[str, Any]

DROPPED_META = frozenset({"meta:license", "meta:titleId", "meta:descriptionId"})
ANNOTATION_KEYS = frozenset({"title", "description", "default", "examples", "$comment"})
KEYWORDS = ANNOTATION_KEYS | {
    "type", "enum", "const", "format", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
    "properties", "patternProperties", "additionalProperties", "required",
    "minProperties", "maxProperties", "dependencies", "propertyNames",
    "oneOf", "anyOf", "not", "if", "then", "else",
    "readOnly", "writeOnly", "contentMediaType", "contentEncoding",
}  # fmt: skip
_SCHEMA_VALUED = frozenset(
    {"items", "additionalItems", "additionalProperties", "not", "propertyNames", "contains"}
    | {"if", "then", "else"}
)
_SCHEMA_LISTS = frozenset({"items", "oneOf", "anyOf"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependencies"})
_CLOSING_KEYS = ("additionalProperties", "patternProperties")


def split_ref(ref: str, base_id: str) -> tuple[str, str]:
    """``(document $id, JSON pointer)`` of a ``$ref`` written in the document ``base_id``."""
    document, _, pointer = ref.partition("#")
    return (document or base_id), unquote(pointer)


class Resolver:
    """Inlines references among ``documents`` (by ``$id``); results are cached per instance.

    >>> Resolver({"urn:a": {"$id": "urn:a", "type": "string"}}).resolve("urn:a")
    {'type': 'string'}

    Returned schemas share sub-trees with each other and with the cache: copy before
    changing them. An instance keeps state while it resolves: one per thread.
    """

    def __init__(
        self,
        documents: Mapping[str, Mapping[str, Any]],
        *,
        extensions: Mapping[str, Sequence[str]] | None = None,
        ignored_refs: Collection[str] = (),
    ) -> None:
        self._documents = documents
        self._extensions = dict(extensions or {})
        self._ignored = frozenset(ignored_refs)
        self._done: dict[str, Schema] = {}
        self._stack: list[str] = []
        self.applied_extensions: set[str] = set()

    def resolve(self, ref: str, base_id: str = "") -> Schema:
        """The schema at ``ref`` (an ``$id``, with or without a ``#`` pointer), inlined."""
        document_id, pointer = split_ref(ref, base_id)
        key = f"{document_id}#{pointer}" if pointer else document_id
        if key in self._ignored:
            return {}
        if key in self._done:
            return self._done[key]
        if key in self._stack:
            cycle = [*self._stack[self._stack.index(key) :], key]
            raise InvalidInput("circular $ref: " + " -> ".join(cycle))
        self._stack.append(key)
        try:
            target = self._target(document_id, pointer, ref)
            result = self.resolve_node(target, document_id)
            if not pointer:
                result = self._extend(document_id, result)
        finally:
            self._stack.pop()
        self._done[key] = result
        return result

    def resolve_node(self, node: Mapping[str, Any], base_id: str) -> Schema:
        """``node`` (a schema inside the document ``base_id``) with its references inlined."""
        parts: list[Schema] = []
        if isinstance(node.get("$ref"), str):
            parts.append(self.resolve(node["$ref"], base_id))
        parts.extend(self.resolve_node(branch, base_id) for branch in node.get("allOf", ()))
        own = {
            key: self._resolve_value(key, value, base_id)
            for key, value in node.items()
            if key in KEYWORDS or (key.startswith("meta:") and key not in DROPPED_META)
        }
        result: Schema = {}
        residual: list[Schema] = []
        for part in parts:
            merged = merge(result, part)
            if merged is None:
                residual.append(part)
            else:
                result = merged
        with_own = merge(result, own, later_wins=True)
        if with_own is None:
            residual.append(own)
        else:
            result = with_own
        if residual:
            result = {**result, "allOf": [*result.get("allOf", ()), *residual]}
        return result

    def _target(self, document_id: str, pointer: str, ref: str) -> Mapping[str, Any]:
        document = self._documents.get(document_id)
        if document is None:
            raise InvalidInput(f"$ref {ref!r}: no schema with $id {document_id!r}")
        node: Any = document
        for token in pointer.split("/")[1:]:
            step = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and step in node:
                node = node[step]
            elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            else:
                raise InvalidInput(f"$ref {ref!r}: nothing at #{pointer} in {document_id}")
        if not isinstance(node, Mapping):
            raise InvalidInput(f"$ref {ref!r}: #{pointer} in {document_id} is not a schema")
        return node

    def _extend(self, document_id: str, schema: Schema) -> Schema:
        for extension_id in self._extensions.get(document_id, ()):
            extension = self.resolve(extension_id)
            merged = merge(schema, extension)
            schema = merged if merged is not None else {"allOf": [schema, extension]}
            self.applied_extensions.add(extension_id)
        return schema

    def _resolve_value(self, key: str, value: Any, base_id: str) -> Any:
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            return {name: self._subschema(sub, base_id) for name, sub in value.items()}
        if key in _SCHEMA_LISTS and isinstance(value, list):
            return [self._subschema(branch, base_id) for branch in value]
        if key in _SCHEMA_VALUED:
            return self._subschema(value, base_id)
        return value

    def _subschema(self, value: Any, base_id: str) -> Any:
        """A schema resolved; anything else (``true``, a ``dependencies`` list) as is."""
        return self.resolve_node(value, base_id) if isinstance(value, Mapping) else value


def merge(first: Schema, second: Schema, *, later_wins: bool = False) -> Schema | None:
    """Both schemas as one, or ``None`` when one object would not mean ``allOf`` of both.

    Annotations keep ``first``'s value unless ``later_wins``.
    """
    if _closes_over(first, second) or _closes_over(second, first):
        return None
    out = dict(first)
    for key, value in second.items():
        if key not in out or out[key] == value:
            out[key] = value
        elif key == "properties":
            out[key] = _merge_properties(out[key], value, later_wins=later_wins)
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "allOf":
            out[key] = [*out[key], *value]
        elif key in ANNOTATION_KEYS or key.startswith("meta:"):
            if later_wins:
                out[key] = value
        else:
            return None
    return out


def _merge_properties(
    first: Mapping[str, Schema], second: Mapping[str, Schema], *, later_wins: bool
) -> dict[str, Schema]:
    out = dict(first)
    for name, schema in second.items():
        if name in out:
            merged = merge(out[name], schema, later_wins=later_wins)
            out[name] = merged if merged is not None else {"allOf": [out[name], schema]}
        else:
            out[name] = schema
    return out


def _closes_over(closing: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether ``closing`` constrains unlisted properties that ``other`` would add."""
    if not any(closing.get(key, True) is not True for key in _CLOSING_KEYS):
        return False
    return bool(set(other.get("properties", ())) - set(closing.get("properties", ())))
