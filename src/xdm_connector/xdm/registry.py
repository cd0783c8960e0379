"""The XDM schema registry: the packaged schemas by ``$id``, and dataset composition.

The product ships a subset of the XDM repository in ``xdm_connector/xdm/schemas`` (see the
NOTICE there); :meth:`SchemaRegistry.packaged` loads it once per process, on first use.

**Short names.** A schema is named by its full ``$id`` or by any trailing run of the
``$id``'s path segments that names no other schema: ``profile``, ``context/profile`` and
``https://ns.adobe.com/xdm/context/profile`` are the same class; ``identitymap``,
``profile-person-details`` and ``profile-loyalty-details`` are field groups. ``address``
is ambiguous (the postal address data type and the Campaign extension) and raises; write
``campaign/address`` or ``common/address``.

**Composition.** A dataset schema is a class (a schema extending the record or
time-series behaviour) plus field groups whose ``meta:intendedToExtend`` names the class
(an empty list, as on ``identitymap``, fits any class), plus *data type extensions*: the
Campaign address extension declares no ``meta:intendedToExtend`` in XDM; Campaign adds it
to every postal address, so composing with ``campaign/address`` gives
``/homeAddress/_experience/campaign/addressQuality``. Custom fields go under the tenant's
own ``_{tenantId}`` object. The result is in XED form (see :mod:`xdm_connector.xdm.xed`).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import SchemaError

from xdm_connector.errors import InvalidInput
from xdm_connector.xdm.resolver import Resolver, Schema, merge
from xdm_connector.xdm.schema import XedSchema
from xdm_connector.xdm.xed import to_xed

PACKAGE = "xdm_connector.xdm"
SCHEMA_SUFFIX = ".schema.json"
DRAFT_06 = "http://json-schema.org/draft-06/schema#"
JSONLD_CONTEXT_REF = "https://ns.adobe.com/xdm/common/extensible#/definitions/@context"
BEHAVIOR_IDS = frozenset(
    {"https://ns.adobe.com/xdm/data/record", "https://ns.adobe.com/xdm/data/time-series"}
)
DATATYPE_EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {"https://ns.adobe.com/experience/campaign/address": "https://ns.adobe.com/xdm/common/address"}
)
TENANT_PATTERN = re.compile(r"_[A-Za-z0-9]+")
_FIELD_GROUP_BODY = ("type", "properties", "required", "allOf")


class SchemaRegistry:
    """XDM schemas by ``$id``, resolved offline.

    >>> registry = SchemaRegistry.packaged()
    >>> registry.resolve_ref("profile")
    'https://ns.adobe.com/xdm/context/profile'
    """

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self._documents: dict[str, Mapping[str, Any]] = {}
        for document in documents:
            schema_id = document.get("$id")
            if not isinstance(schema_id, str):
                raise InvalidInput(f"an XDM schema has no $id: {document.get('title')!r}")
            if schema_id in self._documents:
                raise InvalidInput(f"two XDM schemas have the $id {schema_id}")
            self._documents[schema_id] = document
        self._by_suffix: dict[str, list[str]] = {}
        for schema_id in self._documents:
            for suffix in _suffixes(schema_id):
                self._by_suffix.setdefault(suffix, []).append(schema_id)

    @classmethod
    def from_directory(cls, folder: Traversable) -> SchemaRegistry:
        """Every ``*.schema.json`` below ``folder`` (a ``Path`` or a package resource)."""
        return cls(json.loads(file.read_text(encoding="utf-8")) for file in _schema_files(folder))

    @classmethod
    def packaged(cls) -> SchemaRegistry:
        """The schemas shipped with the product, loaded on the first call of the process."""
        return _packaged_registry()

    @property
    def ids(self) -> tuple[str, ...]:
        """Every ``$id``, sorted."""
        return tuple(sorted(self._documents))

    def document(self, name_or_id: str) -> dict[str, Any]:
        """A copy of a schema file as written (source form, references unresolved)."""
        return copy.deepcopy(dict(self._documents[self.resolve_ref(name_or_id)]))

    def resolve_ref(self, name_or_id: str) -> str:
        """The ``$id`` of a schema named by its ``$id`` or a short name (module docstring)."""
        if name_or_id in self._documents:
            return name_or_id
        matches = self._by_suffix.get(name_or_id, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            options = ", ".join(sorted(self.short_name(match) for match in matches))
            raise InvalidInput(f"the XDM schema name {name_or_id!r} is ambiguous: {options}")
        close = difflib.get_close_matches(name_or_id, self._by_suffix, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise InvalidInput(f"unknown XDM schema {name_or_id!r}{hint}")

    def short_name(self, schema_id: str) -> str:
        """The shortest name that :meth:`resolve_ref` maps to ``schema_id`` alone."""
        unique = (s for s in _suffixes(schema_id) if self._by_suffix.get(s) == [schema_id])
        return next(unique, schema_id)

    def resolved(self, name_or_id: str) -> dict[str, Any]:
        """The schema in source form with every ``$ref`` and ``allOf`` inlined."""
        resolver = Resolver(self._documents)
        return copy.deepcopy(resolver.resolve(self.resolve_ref(name_or_id)))

    def compose(
        self,
        class_ref: str,
        field_groups: Sequence[str] = (),
        *,
        custom: Mapping[str, Any] | None = None,
        tenant: str = "_customer",
    ) -> XedSchema:
        """A dataset schema: the class, its field groups and custom fields, in XED form.

        ``custom`` is a JSON schema ``properties`` object placed under ``/{tenant}``:
        ``{"default": {"type": "object", "properties": {"flag": {"type": "boolean"}}}}``
        gives ``/_customer/default/flag``.

        >>> schema = SchemaRegistry.packaged().compose("profile", ["identitymap"])
        >>> schema.field_at("/identityMap/Email/0/primary").type
        <XdmType.BOOLEAN: 'boolean'>
        """
        if not TENANT_PATTERN.fullmatch(tenant):
            raise InvalidInput(f"the tenant namespace {tenant!r} is not '_' and letters or digits")
        class_id = self.resolve_ref(class_ref)
        if not BEHAVIOR_IDS & set(self._documents[class_id].get("meta:extends", ())):
            raise InvalidInput(f"{self.short_name(class_id)} is not an XDM class")
        group_ids = tuple(dict.fromkeys(self.resolve_ref(ref) for ref in field_groups))
        extension_ids = [g for g in group_ids if g in DATATYPE_EXTENSIONS]
        for group_id in group_ids:
            if group_id not in DATATYPE_EXTENSIONS:
                self._check_field_group(group_id, class_id)
        resolver = Resolver(
            self._documents,
            extensions={DATATYPE_EXTENSIONS[e]: [e] for e in extension_ids},
            ignored_refs=[JSONLD_CONTEXT_REF],
        )
        source = resolver.resolve(class_id)
        for group_id in group_ids:
            if group_id not in DATATYPE_EXTENSIONS:
                source = self._add_group(source, resolver.resolve(group_id), group_id)
        for unused in set(extension_ids) - resolver.applied_extensions:
            target = self.short_name(DATATYPE_EXTENSIONS[unused])
            raise InvalidInput(
                f"{self.short_name(unused)} extends {target}, which the schema does not use"
            )
        json_schema = {"$schema": DRAFT_06, **to_xed(source)}
        if custom is not None:
            _add_custom(json_schema, custom, tenant, resolver)
        return XedSchema(json_schema, class_id=class_id, field_group_ids=group_ids, tenant=tenant)

    def _check_field_group(self, group_id: str, class_id: str) -> None:
        intended = self._documents[group_id].get("meta:intendedToExtend")
        name = self.short_name(group_id)
        if not isinstance(intended, list):
            raise InvalidInput(f"{name} is not a field group (no meta:intendedToExtend)")
        if intended and class_id not in intended:
            classes = ", ".join(self.short_name(c) if c in self._documents else c for c in intended)
            raise InvalidInput(
                f"the field group {name} extends {classes}, not {self.short_name(class_id)}"
            )

    def _add_group(self, source: Schema, group: Schema, group_id: str) -> Schema:
        body = {key: group[key] for key in _FIELD_GROUP_BODY if key in group}
        merged = merge(source, body)
        if merged is None:
            raise InvalidInput(
                f"the field group {self.short_name(group_id)} conflicts with the class"
            )
        return merged


def _add_custom(
    json_schema: Schema, custom: Mapping[str, Any], tenant: str, resolver: Resolver
) -> None:
    if not isinstance(custom, Mapping) or not all(
        isinstance(name, str) and isinstance(schema, Mapping) for name, schema in custom.items()
    ):
        raise InvalidInput("custom fields must map each field name to a JSON schema")
    tenant_schema = to_xed(resolver.resolve_node({"type": "object", "properties": custom}, ""))
    try:
        Draft6Validator.check_schema(tenant_schema)
    except SchemaError as exc:
        raise InvalidInput(f"custom field schema: {exc.message}") from exc
    properties = json_schema.setdefault("properties", {})
    existing = properties.get(tenant)
    merged = merge(existing, tenant_schema) if existing is not None else tenant_schema
    if merged is None:
        raise InvalidInput(f"custom fields conflict with the class's {tenant} object")
    properties[tenant] = merged


def _suffixes(schema_id: str) -> Iterator[str]:
    """``profile``, ``context/profile``, ... up to the ``$id`` without its scheme."""
    segments = schema_id.split("://", 1)[-1].split("/")
    for start in range(len(segments) - 1, -1, -1):
        yield "/".join(segments[start:])


def _schema_files(folder: Traversable) -> Iterator[Traversable]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _schema_files(entry)
        elif entry.name.endswith(SCHEMA_SUFFIX):
            yield entry


@functools.cache
def _packaged_registry() -> SchemaRegistry:
    return SchemaRegistry.from_directory(resources.files(PACKAGE) / "schemas")
