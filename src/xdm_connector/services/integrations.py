"""Integrations: the API clients of an organization, created, rotated, deleted, listed.

A client secret is a 256-bit random value, answered once and stored only as its digest
(``security/credentials.py``). Rotating the secret or deleting the integration deletes its
tokens in the same transaction, so they stop working at once. Every change is written to
the audit trail with its ``actor``, in the change's own transaction:
``integration.create`` (with the name and groups), ``integration.rotate``,
``integration.delete``; never a secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from xdm_connector.security.credentials import OPERATOR, digest
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.store import Store
from xdm_connector.store.tenants import IntegrationInfo


@dataclass(frozen=True)
class NewIntegration:
    """Credentials of a new integration; the secret is shown once and never stored."""

    client_id: str
    client_secret: str


def create_integration(
    store: Store,
    org_id: str,
    *,
    groups: list[str],
    name: str = "integration",
    actor: str = OPERATOR,
) -> NewIntegration:
    """Register an integration of ``org_id`` in ``groups`` and answer its credentials."""
    client_id = secrets.token_hex(16)
    client_secret = secrets.token_urlsafe(32)
    with store.atomic():
        store.tenants.create_integration(org_id, client_id, digest(client_secret), name, groups)
        details = {"name": name, "groups": sorted(groups)}
        store.tenants.audit.record(
            org_id, actor, AuditAction.INTEGRATION_CREATE, client_id, details
        )
    return NewIntegration(client_id=client_id, client_secret=client_secret)


def rotate_integration(
    store: Store, org_id: str, client_id: str, *, actor: str = OPERATOR
) -> NewIntegration:
    """Give an integration a new secret; its tokens stop working at once."""
    client_secret = secrets.token_urlsafe(32)
    with store.atomic():
        store.tenants.rotate_secret(org_id, client_id, digest(client_secret))
        store.tenants.audit.record(org_id, actor, AuditAction.INTEGRATION_ROTATE, client_id)
    return NewIntegration(client_id=client_id, client_secret=client_secret)


def delete_integration(store: Store, org_id: str, client_id: str, *, actor: str = OPERATOR) -> None:
    """Delete an integration; its tokens stop working at once."""
    with store.atomic():
        store.tenants.delete_integration(org_id, client_id)
        store.tenants.audit.record(org_id, actor, AuditAction.INTEGRATION_DELETE, client_id)


def list_integrations(store: Store, org_id: str) -> list[IntegrationInfo]:
    """The organization's integrations (client id, name, groups; never a secret)."""
    store.tenants.get_organization(org_id)
    return store.tenants.list_integrations(org_id)
