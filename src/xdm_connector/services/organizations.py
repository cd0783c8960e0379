"""Organizations (tenants), their destination, security groups and the roles those hold.

An organization's source URL never holds a secret in clear (``sources/urls.py``) nor
names the connector's own data (``sources/product_data.py``). Every change is written to the
audit trail with its ``actor``, in the change's own transaction: ``organization.create``
(when given one), ``destination.change``, ``group.create``, ``grant``, ``revoke`` (a grant
or revoke that changes nothing writes nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xdm_connector.domain.job_states import IN_PROGRESS_STATES
from xdm_connector.errors import Conflict, InvalidInput, NotFound
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.security.roles import ROLES, known_role
from xdm_connector.sources.urls import check_source_url, display_source_url
from xdm_connector.store import delivered_records
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.groups import GroupRoles
from xdm_connector.store.models import Job, Mapping, Organization
from xdm_connector.store.store import Store

if TYPE_CHECKING:
    from xdm_connector.destinations.config import LakeConfig, PlatformConfig

__all__ = [
    "ORG_ID",
    "ROLES",
    "DestinationChange",
    "create_group",
    "create_organization",
    "grant_role",
    "list_groups",
    "organization_summaries",
    "revoke_role",
    "set_destination",
]

ORG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
GROUP_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f/]{1,128}")


def create_organization(
    store: Store, org_id: str, source_url: str, *, actor: str | None = None
) -> Organization:
    """Create an organization reading from the source database at ``source_url``.

    Given an ``actor`` (the command line's ``orgs create``), the creation is the first
    entry of the organization's audit trail (``organization.create``); the library's set-up
    without one writes none.

    ``SourceRefused`` (an ``InvalidInput``) if the URL holds a secret in clear (it must
    name it, ``postgresql://crm:${CRM_PASSWORD}@db/crm`` or
    ``...?password_file=/run/secrets/crm``: ``XDMC-SOURCE-SECRET``), or names the
    connector's own data (``store.product_data``: ``XDMC-SOURCE-OWN-DATA``).
    """
    if ORG_ID.fullmatch(org_id) is None:
        raise InvalidInput(
            f"invalid organization id {org_id!r}: letters, digits, '_' and '-', not first"
        )
    check_source_url(source_url)
    store.product_data.check_source(source_url)
    with store.atomic():
        organization = store.tenants.create_organization(org_id, source_url)
        if actor is not None:
            store.tenants.audit.record(org_id, actor, AuditAction.ORGANIZATION_CREATE, org_id)
    return organization


def organization_summaries(store: Store) -> list[tuple[str, str]]:
    """Every organization's id and source URL as it may be shown (secrets masked)."""
    return [
        (org.id, display_source_url(org.source_url)) for org in store.tenants.list_organizations()
    ]


@dataclass(frozen=True)
class DestinationChange:
    """What ``set_destination`` did: the destination it checked and stored, and the mappings
    whose watermark it reset because their records now land somewhere else."""

    config: LakeConfig | PlatformConfig
    reset_mappings: tuple[str, ...]


def set_destination(
    store: Store, org_id: str, document: Any, *, actor: str = OPERATOR
) -> DestinationChange:
    """Check a destination (``destinations/config.py``) and make it the organization's.

    Every mapping whose records it sends to another place (``delivery_place``) has its
    watermark reset in the same transaction, so that its next export sends every record to
    the new place. ``Conflict`` while an export of such a mapping is in progress: it would
    end by advancing the watermark of the old place over the reset. The audit entry
    (``destination.change``) names the destination's type and the mappings reset.
    """
    # Imported when used: checking a destination imports Arrow (the lake's storage), which
    # the rest of this module (organizations, groups) needs none of.
    from xdm_connector.destinations.config import (
        delivery_place,
        destination_document,
        parse_destination,
    )

    config = parse_destination(document)
    with store.atomic() as session:
        organization = session.get(Organization, org_id)
        if organization is None:
            raise NotFound(f"unknown organization {org_id}")
        previous = _stored_destination(organization.destination)
        mappings = session.scalars(
            sa.select(Mapping).where(Mapping.org_id == org_id).order_by(Mapping.id)
        )
        moved = [
            mapping
            for mapping in mappings
            if previous is None
            or delivery_place(previous, _delivered_dataset(mapping))
            != delivery_place(config, _delivered_dataset(mapping))
        ]
        running = session.scalar(
            sa.select(Job)
            .where(
                Job.org_id == org_id,
                Job.mapping_id.in_([mapping.id for mapping in moved]),
                Job.state.in_(sorted(state.value for state in IN_PROGRESS_STATES)),
            )
            .order_by(Job.id)
            .limit(1)
        )
        if running is not None:
            raise Conflict(
                f"an export of mapping {running.mapping_id} is in progress (request "
                f"{running.id}): change the destination once it has ended, or cancel it"
            )
        organization.destination = destination_document(config)
        reset = [mapping.id for mapping in moved if mapping.watermark is not None]
        for mapping in moved:
            mapping.watermark = None
        # What was delivered to the old place says nothing of the new one.
        delivered_records.forget(session, org_id, [mapping.id for mapping in moved])
        details = {"type": config.type, "resetMappings": reset}
        store.tenants.audit.record(org_id, actor, AuditAction.DESTINATION_CHANGE, org_id, details)
    return DestinationChange(config, tuple(reset))


def _stored_destination(document: Any) -> LakeConfig | PlatformConfig | None:
    """The stored destination, or ``None`` when it no longer reads as a valid one."""
    from xdm_connector.destinations.config import parse_destination

    try:
        return parse_destination(document)
    except InvalidInput:
        return None


def _delivered_dataset(mapping: Mapping) -> str:
    """The dataset a mapping's exports write: its published definition's, else its own."""
    published = (mapping.published_definition or {}).get("dataset")
    return published if isinstance(published, str) else mapping.dataset_id


def list_groups(store: Store, org_id: str) -> list[GroupRoles]:
    """The organization's security groups with their roles."""
    store.tenants.get_organization(org_id)
    return store.tenants.list_groups(org_id)


def create_group(store: Store, org_id: str, name: str, *, actor: str = OPERATOR) -> None:
    """Create a custom security group holding no role."""
    name = name.strip()
    if GROUP_NAME.fullmatch(name) is None:
        raise InvalidInput("a security group's name has 1 to 128 characters, no '/'")
    with store.atomic():
        store.tenants.create_group(org_id, name)
        store.tenants.audit.record(org_id, actor, AuditAction.GROUP_CREATE, name)


def grant_role(store: Store, org_id: str, group: str, role: str, *, actor: str = OPERATOR) -> bool:
    """Give ``role`` to a security group (idempotent); answers whether it changed."""
    return _change_role(store, org_id, group, role, actor, AuditAction.GRANT)


def revoke_role(store: Store, org_id: str, group: str, role: str, *, actor: str = OPERATOR) -> bool:
    """Take ``role`` from a security group (idempotent); answers whether it changed."""
    return _change_role(store, org_id, group, role, actor, AuditAction.REVOKE)


def _change_role(
    store: Store, org_id: str, group: str, role: str, actor: str, action: AuditAction
) -> bool:
    """Grant or revoke (``action``) the role, audited only when it changed."""
    known_role(role)
    change = store.tenants.grant_role if action is AuditAction.GRANT else store.tenants.revoke_role
    with store.atomic():
        changed = change(org_id, group, role)
        if changed:
            store.tenants.audit.record(org_id, actor, action, group, {"role": role})
    return changed
