"""Datasets: a destination table and its XDM schema (a class plus field groups).

A created dataset is written to the audit trail as ``actor``'s ``dataset.create``, in the
same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from xdm_connector.domain.lake_modes import TIME_SERIES_BEHAVIOUR, LakeMode, default_lake_mode
from xdm_connector.errors import InvalidInput
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import Dataset
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import schema_spec
from xdm_connector.xdm.registry import SchemaRegistry

DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def create_dataset(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    dataset_id: str,
    *,
    class_ref: str,
    field_groups: Sequence[str] = (),
    custom: dict[str, Any] | None = None,
    actor: str = OPERATOR,
    lake_mode: LakeMode | None = None,
) -> Dataset:
    """Create a dataset after checking that its schema composes; its lake table is kept
    as ``lake_mode``, by default as its class's behaviour says (``domain/lake_modes.py``)."""
    if DATASET_ID.fullmatch(dataset_id) is None:
        raise InvalidInput(
            f"invalid dataset id {dataset_id!r}: letters, digits, '_' and '-', not first"
        )
    schema = registry.compose(class_ref, field_groups, custom=custom)
    spec = schema_spec(schema.class_id, schema.field_group_ids, custom)
    if lake_mode is None:
        extends = registry.document(schema.class_id).get("meta:extends") or []
        behaviour = next((ref for ref in extends if ref == TIME_SERIES_BEHAVIOUR), None)
        lake_mode = default_lake_mode(behaviour)
    with store.atomic():
        dataset = store.tenants.create_dataset(org_id, dataset_id, spec, str(lake_mode))
        store.tenants.audit.record(org_id, actor, AuditAction.DATASET_CREATE, dataset_id)
    return dataset
