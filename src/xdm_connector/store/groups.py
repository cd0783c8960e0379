"""Security groups of the organizations and the roles they hold, in the store."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xdm_connector.errors import Conflict, NotFound
from xdm_connector.store.models import GroupRole, Organization, SecurityGroup
from xdm_connector.store.transactions import Transactions, required_row


@dataclass(frozen=True)
class GroupRoles:
    """A security group and the roles it holds, sorted."""

    name: str
    roles: tuple[str, ...]


class SecurityGroups:
    """Queries on security groups (their changes audited by ``services/organizations.py``)."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def list_groups(self, org_id: str) -> list[GroupRoles]:
        """The organization's security groups with their roles, by name."""
        with self._store.read() as session:
            rows = session.execute(
                sa.select(SecurityGroup.name, GroupRole.role)
                .outerjoin(GroupRole, GroupRole.group_id == SecurityGroup.id)
                .where(SecurityGroup.org_id == org_id)
                .order_by(SecurityGroup.name, GroupRole.role)
            ).all()
        groups: dict[str, list[str]] = {}
        for name, role in rows:
            groups.setdefault(name, []).extend([role] if role is not None else [])
        return [GroupRoles(name, tuple(roles)) for name, roles in groups.items()]

    def create_group(self, org_id: str, name: str) -> None:
        """A new security group holding no role; ``Conflict`` if the name is taken."""
        try:
            with self._store.write() as session:
                required_row(session, Organization, org_id, f"unknown organization {org_id}")
                session.add(SecurityGroup(org_id=org_id, name=name))
                session.flush()
        except IntegrityError as exc:
            raise Conflict(f"security group {name} already exists") from exc

    def grant_role(self, org_id: str, group_name: str, role: str) -> bool:
        """Give ``role`` to a group (idempotent); answers whether the group lacked it."""
        try:
            with self._store.write() as session:
                group = self._group(session, org_id, group_name)
                if session.get(GroupRole, (group.id, role)) is not None:
                    return False
                session.add(GroupRole(group_id=group.id, role=role))
                session.flush()
                return True
        except IntegrityError:
            return False  # a concurrent grant of the same role committed first

    def revoke_role(self, org_id: str, group_name: str, role: str) -> bool:
        """Take ``role`` from a group (idempotent); answers whether the group held it."""
        with self._store.write() as session:
            group = self._group(session, org_id, group_name)
            deleted = session.execute(
                sa.delete(GroupRole).where(GroupRole.group_id == group.id, GroupRole.role == role)
            )
            return bool(getattr(deleted, "rowcount", 0))

    def group_roles(self, org_id: str, group_name: str) -> list[str]:
        """The roles a group holds, sorted."""
        with self._store.read() as session:
            group = self._group(session, org_id, group_name)
            query = sa.select(GroupRole.role).where(GroupRole.group_id == group.id)
            return sorted(session.scalars(query))

    def _group(self, session: Session, org_id: str, name: str) -> SecurityGroup:
        group = session.scalar(
            sa.select(SecurityGroup).where(
                SecurityGroup.org_id == org_id, SecurityGroup.name == name
            )
        )
        if group is None:
            raise NotFound(f"unknown security group {name}")
        return group
