"""Data mappings: create, save (create or update) and delete a mapping's draft.

Saving a mapping whose dataset another mapping of the organization already writes to is
allowed, but warned about: ``Dataset profiles is already used by mapping XDM45: its data
may be overwritten``. Each change is written to the audit trail as ``actor``'s
``mapping.create``, ``mapping.change`` or ``mapping.delete``, in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import Mapping
from xdm_connector.store.store import Store


@dataclass(frozen=True)
class SavedMapping:
    """A saved mapping, whether the save created it, and what the user should know."""

    mapping: Mapping
    created: bool
    warnings: list[str]


def apply_mapping(
    store: Store, org_id: str, definition: MappingDefinition, *, actor: str = OPERATOR
) -> SavedMapping:
    """Create or update a mapping from its definition.

    A published mapping keeps running its published definition until published again.
    """
    with store.atomic():
        mapping, created = store.mappings.save(
            org_id,
            definition.id,
            label=definition.label or definition.id,
            dataset_id=definition.dataset,
            definition=definition.document(),
        )
        action = AuditAction.MAPPING_CREATE if created else AuditAction.MAPPING_CHANGE
        store.tenants.audit.record(org_id, actor, action, definition.id)
    warnings = dataset_warnings(store, org_id, definition.id, definition.dataset)
    return SavedMapping(mapping, created, warnings)


def create_mapping(
    store: Store, org_id: str, definition: MappingDefinition, *, actor: str = OPERATOR
) -> SavedMapping:
    """Create a draft mapping; ``Conflict`` when its id is taken."""
    with store.atomic():
        mapping = store.mappings.create(
            org_id,
            definition.id,
            label=definition.label or definition.id,
            dataset_id=definition.dataset,
            definition=definition.document(),
        )
        store.tenants.audit.record(org_id, actor, AuditAction.MAPPING_CREATE, definition.id)
    warnings = dataset_warnings(store, org_id, definition.id, definition.dataset)
    return SavedMapping(mapping, True, warnings)


def dataset_warnings(store: Store, org_id: str, mapping_id: str, dataset_id: str) -> list[str]:
    """One warning per other mapping of the organization writing to ``dataset_id`` (its
    draft or its published definition): their records may overwrite each other."""
    others = [
        other.id
        for other in store.mappings.list_for_org(org_id)
        if other.id != mapping_id
        and dataset_id in (other.dataset_id, (other.published_definition or {}).get("dataset"))
    ]
    return [
        f"Dataset {dataset_id} is already used by mapping {other}: its data may be overwritten"
        for other in others
    ]


def delete_mapping(store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR) -> None:
    """Delete a draft mapping with its log and jobs."""
    with store.atomic():
        store.mappings.delete_draft(org_id, mapping_id)
        store.tenants.audit.record(org_id, actor, AuditAction.MAPPING_DELETE, mapping_id)
