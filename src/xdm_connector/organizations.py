"""Organizations (tenants), their security groups and the roles those hold.

An organization's source URL never holds a secret in clear (``security.secrets``) nor
names the connector's own data (``security.product_data``); a change to groups or roles is written to the audit trail with its ``actor``, in the same
transaction.
"""

from __future__ import annotations

import re

from xdm_connector.errors import InvalidInput
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.security.roles import ROLES, known_role
from xdm_connector.sources.urls import check_source_url, display_source_url
from xdm_connector.store.groups import GroupRoles
from xdm_connector.store.models import Organization
from xdm_connector.store.store import Store

__all__ = [
    "ORG_ID",
    "ROLES",
    "create_group",
    "create_organization",
    "grant_role",
    "list_groups",
    "organization_summaries",
    "revoke_role",
]

ORG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
GROUP_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f/]{1,128}")


def create_organization(store: Store, org_id: str, source_url: str) -> Organization:
    """Create an organization reading from the source database at ``source_url``.

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
    return store.tenants.create_organization(org_id, source_url)


def organization_summaries(store: Store) -> list[tuple[str, str]]:
    """Every organization's id and source URL as it may be shown (secrets masked)."""
    return [
        (org.id, display_source_url(org.source_url)) for org in store.tenants.list_organizations()
    ]


def list_groups(store: Store, org_id: str) -> list[GroupRoles]:
    """The organization's security groups with their roles."""
    store.tenants.get_organization(org_id)
    return store.tenants.list_groups(org_id)


def create_group(store: Store, org_id: str, name: str, *, actor: str = OPERATOR) -> None:
    """Create a custom security group holding no role."""
    name = name.strip()
    if GROUP_NAME.fullmatch(name) is None:
        raise InvalidInput("a security group's name has 1 to 128 characters, no '/'")
    store.tenants.create_group(org_id, name, actor=actor)


def grant_role(store: Store, org_id: str, group: str, role: str, *, actor: str = OPERATOR) -> bool:
    """Give ``role`` to a security group (idempotent); answers whether it changed."""
    known_role(role)
    return store.tenants.grant_role(org_id, group, role, actor=actor)


def revoke_role(store: Store, org_id: str, group: str, role: str, *, actor: str = OPERATOR) -> bool:
    """Take ``role`` from a security group (idempotent); answers whether it changed."""
    known_role(role)
    return store.tenants.revoke_role(org_id, group, role, actor=actor)
