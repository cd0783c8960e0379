"""Datasets: a destination table and its XDM schema (a class plus field groups)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from xdm_connector.errors import InvalidInput
from xdm_connector.store.models import Dataset
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


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


def create_dataset(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    dataset_id: str,
    *,
    class_ref: str,
    field_groups: Sequence[str] = (),
    custom: dict[str, Any] | None = None,
) -> Dataset:
    """Create a dataset after checking that its schema composes."""
    if DATASET_ID.fullmatch(dataset_id) is None:
        raise InvalidInput(
            f"invalid dataset id {dataset_id!r}: letters, digits, '_' and '-', not first"
        )
    schema = registry.compose(class_ref, field_groups, custom=custom)
    spec = schema_spec(schema.class_id, schema.field_group_ids, custom)
    return store.tenants.create_dataset(org_id, dataset_id, spec)
