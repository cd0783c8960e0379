"""A dataset's stored description of its schema (a class, field groups, custom fields),
and the XED schema it resolves to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema


def schema_spec(
    class_ref: str, field_groups: Sequence[str], custom: dict[str, Any] | None
) -> dict[str, Any]:
    """The stored description of a dataset's schema."""
    spec: dict[str, Any] = {"class": class_ref, "fieldGroups": list(field_groups)}
    if custom:
        spec["custom"] = custom
    return spec


def dataset_schema(registry: SchemaRegistry, spec: dict[str, Any]) -> XedSchema:
    """The resolved XED schema of a dataset's stored description."""
    return registry.compose(spec["class"], spec.get("fieldGroups", []), custom=spec.get("custom"))
