"""Organizations, security groups, integrations, tokens and datasets in the store.

Their changes are audited by the services that make them (``services/``), in the same
transaction (``Store.atomic``).
Tokens' principals are cached for at most a few seconds (``store/principals.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xdm_connector.errors import Conflict, NotFound
from xdm_connector.store.audit import AuditTrail, LoginFailures
from xdm_connector.store.groups import SecurityGroups
from xdm_connector.store.models import (
    AccessToken,
    Dataset,
    GroupRole,
    Integration,
    IntegrationGroup,
    Organization,
    SecurityGroup,
    utcnow,
)
from xdm_connector.store.principals import Principal, PrincipalCache, TokenHolder
from xdm_connector.store.transactions import Transactions, required_row

DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "Administrators": ("administration",),
    "Standard Users": (),
}


@dataclass(frozen=True)
class IntegrationInfo:
    """An integration as it is listed: never its secret's digest."""

    client_id: str
    name: str
    groups: tuple[str, ...]
    created_at: datetime


class Tenants(SecurityGroups):
    """Queries on organizations and what belongs to them directly.

    Security groups and their roles come from ``SecurityGroups``; ``audit`` is the
    organizations' audit trail; ``login_failures`` the failed token requests that the
    token endpoint's rate limit counts.
    """

    def __init__(self, store: Transactions) -> None:
        super().__init__(store)
        self.audit = AuditTrail(store)
        self.login_failures = LoginFailures(store)
        self.principals = PrincipalCache()

    def create_organization(self, org_id: str, source_url: str) -> Organization:
        """A new organization with its default security groups."""
        try:
            with self._store.write() as session:
                org = Organization(id=org_id, source_url=source_url)
                session.add(org)
                session.flush()
                for name, roles in DEFAULT_GROUPS.items():
                    group = SecurityGroup(org_id=org_id, name=name)
                    session.add(group)
                    session.flush()
                    session.add_all(GroupRole(group_id=group.id, role=role) for role in roles)
                return org
        except IntegrityError as exc:
            raise Conflict(f"organization {org_id} already exists") from exc

    def get_organization(self, org_id: str) -> Organization:
        """The organization ``org_id``, or ``NotFound``."""
        return self._store.get(Organization, org_id, f"unknown organization {org_id}")

    def list_organizations(self) -> list[Organization]:
        """Every organization, by id."""
        with self._store.read() as session:
            return list(session.scalars(sa.select(Organization).order_by(Organization.id)))

    def create_integration(
        self,
        org_id: str,
        client_id: str,
        secret_hash: str,
        name: str,
        groups: list[str],
    ) -> Integration:
        """A new integration, member of ``groups`` (which must exist)."""
        with self._store.write() as session:
            required_row(session, Organization, org_id, f"unknown organization {org_id}")
            integration = Integration(
                client_id=client_id, org_id=org_id, name=name, secret_hash=secret_hash
            )
            session.add(integration)
            session.flush()
            for group_name in groups:
                group = self._group(session, org_id, group_name)
                session.add(IntegrationGroup(client_id=client_id, group_id=group.id))
            return integration

    def get_integration(self, client_id: str) -> Integration | None:
        """The integration whose client id is ``client_id``, if any."""
        with self._store.read() as session:
            return session.get(Integration, client_id)

    def list_integrations(self, org_id: str) -> list[IntegrationInfo]:
        """The organization's integrations with their groups, by name then client id."""
        with self._store.read() as session:
            integrations = session.scalars(
                sa.select(Integration)
                .where(Integration.org_id == org_id)
                .order_by(Integration.name, Integration.client_id)
            ).all()
            memberships = session.execute(
                sa.select(IntegrationGroup.client_id, SecurityGroup.name)
                .join(SecurityGroup, SecurityGroup.id == IntegrationGroup.group_id)
                .where(SecurityGroup.org_id == org_id)
                .order_by(SecurityGroup.name)
            ).all()
        groups: dict[str, list[str]] = {}
        for client_id, group in memberships:
            groups.setdefault(client_id, []).append(group)
        return [
            IntegrationInfo(i.client_id, i.name, tuple(groups.get(i.client_id, ())), i.created_at)
            for i in integrations
        ]

    def rotate_secret(self, org_id: str, client_id: str, secret_hash: str) -> None:
        """Replace an integration's secret; every token issued to it stops working at once."""
        with self._store.write() as session:
            integration = self._integration(session, org_id, client_id)
            integration.secret_hash = secret_hash
            session.execute(sa.delete(AccessToken).where(AccessToken.client_id == client_id))

    def delete_integration(self, org_id: str, client_id: str) -> None:
        """Delete an integration with its tokens and memberships."""
        with self._store.write() as session:
            integration = self._integration(session, org_id, client_id)
            session.execute(sa.delete(AccessToken).where(AccessToken.client_id == client_id))
            session.execute(
                sa.delete(IntegrationGroup).where(IntegrationGroup.client_id == client_id)
            )
            session.delete(integration)

    def add_token(
        self,
        token_hash: str,
        client_id: str,
        expires_at: datetime,
        *,
        secret_hash: str | None = None,
    ) -> bool:
        """Record an issued token's digest; expired tokens of the client are dropped.

        With ``secret_hash`` (the digest the caller's secret was checked against), the token
        is recorded only if the integration still exists with that secret, and answers
        whether it was: the row is locked, so a rotation or deletion that commits meanwhile
        never lets a token of the old secret survive it.
        """
        with self._store.write() as session:
            if secret_hash is not None:
                integration = session.get(Integration, client_id, with_for_update=True)
                if integration is None or integration.secret_hash != secret_hash:
                    return False
            session.execute(
                sa.delete(AccessToken).where(
                    AccessToken.client_id == client_id, AccessToken.expires_at <= utcnow()
                )
            )
            session.add(
                AccessToken(token_hash=token_hash, client_id=client_id, expires_at=expires_at)
            )
            return True

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        """Who holds the unexpired token with this digest, or None (always read from the store)."""
        holder = self.token_holder(token_hash, now)
        return holder.principal if holder else None

    def token_holder(self, token_hash: str, now: datetime) -> TokenHolder | None:
        """The principal of the unexpired token with this digest and its expiry, in one query."""
        with self._store.read() as session:
            rows = session.execute(
                sa.select(
                    Integration.client_id,
                    Integration.org_id,
                    AccessToken.expires_at,
                    GroupRole.role,
                )
                .join(AccessToken, AccessToken.client_id == Integration.client_id)
                .outerjoin(IntegrationGroup, IntegrationGroup.client_id == Integration.client_id)
                .outerjoin(GroupRole, GroupRole.group_id == IntegrationGroup.group_id)
                .where(AccessToken.token_hash == token_hash, AccessToken.expires_at > now)
            ).all()
        if not rows:
            return None
        first = rows[0]
        roles = frozenset(row.role for row in rows if row.role is not None)
        principal = Principal(client_id=first.client_id, org_id=first.org_id, roles=roles)
        return TokenHolder(principal=principal, expires_at=first.expires_at)

    def current_principal(self, token_hash: str) -> Principal | None:
        """Who holds the token now: from ``principals`` if cached, else from the store (and
        then cached for at most ``PRINCIPAL_CACHE_SECONDS``)."""
        cached = self.principals.get(token_hash)
        if cached is not None:
            return cached
        generation = self.principals.generation()
        holder = self.token_holder(token_hash, utcnow())
        if holder is None:
            return None
        self.principals.put(token_hash, holder, generation)
        return holder.principal

    @staticmethod
    def _integration(session: Session, org_id: str, client_id: str) -> Integration:
        integration = session.get(Integration, client_id)
        if integration is None or integration.org_id != org_id:
            raise NotFound(f"unknown integration {client_id}")
        return integration

    def create_dataset(
        self,
        org_id: str,
        dataset_id: str,
        schema_spec: dict[str, Any],
        lake_mode: str = "append",
    ) -> Dataset:
        """A new dataset of the organization, its lake table kept as ``lake_mode``."""
        try:
            with self._store.write() as session:
                required_row(session, Organization, org_id, f"unknown organization {org_id}")
                dataset = Dataset(
                    org_id=org_id, id=dataset_id, schema_spec=schema_spec, lake_mode=lake_mode
                )
                session.add(dataset)
                return dataset
        except IntegrityError as exc:
            raise Conflict(f"dataset {dataset_id} already exists") from exc

    def get_dataset(self, org_id: str, dataset_id: str) -> Dataset:
        """The dataset, or ``NotFound``."""
        return self._store.get(Dataset, (org_id, dataset_id), f"unknown dataset {dataset_id}")

    def list_datasets(self, org_id: str) -> list[Dataset]:
        """The organization's datasets, by id."""
        with self._store.read() as session:
            query = sa.select(Dataset).where(Dataset.org_id == org_id).order_by(Dataset.id)
            return list(session.scalars(query))
