"""The audit trail and the token endpoint's failed attempts, in the store.

The services write an audit entry with ``AuditTrail.record`` inside ``Store.atomic()``,
so that it is committed with the change it records, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from xdm_connector.store.models import AuditEntry, LoginFailure
from xdm_connector.store.transactions import Transactions

ACTOR_LENGTH = 128
TARGET_LENGTH = 256


class AuditAction(StrEnum):
    """What an audit entry records; its target is named after the dot, or is a mapping."""

    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    START = "start"
    STOP = "stop"
    TRIGGER = "trigger"
    CANCEL = "cancel"
    MAPPING_CREATE = "mapping.create"
    MAPPING_CHANGE = "mapping.change"
    MAPPING_DELETE = "mapping.delete"
    DATASET_CREATE = "dataset.create"
    GRANT = "grant"
    REVOKE = "revoke"
    GROUP_CREATE = "group.create"
    INTEGRATION_CREATE = "integration.create"
    INTEGRATION_ROTATE = "integration.rotate"
    INTEGRATION_DELETE = "integration.delete"
    ORGANIZATION_CREATE = "organization.create"
    DESTINATION_CHANGE = "destination.change"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_ROTATE = "webhook.rotate"
    WEBHOOK_DELETE = "webhook.delete"


class AuditTrail:
    """Who did what in an organization."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def record(
        self,
        org_id: str,
        actor: str,
        action: AuditAction,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write one entry: in the transaction of ``Store.atomic()`` when inside it (the
        services' way), else in a transaction of its own."""
        with self._store.write() as session:
            session.add(
                AuditEntry(
                    org_id=org_id,
                    actor=actor[:ACTOR_LENGTH],
                    action=action.value,
                    target=target[:TARGET_LENGTH],
                    details=details,
                )
            )

    def entries(
        self, org_id: str, action: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[AuditEntry]:
        """The organization's entries, newest first; only those of ``action`` if given."""
        query = self._query(sa.select(AuditEntry), org_id, action)
        query = query.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
        with self._store.read() as session:
            return list(session.scalars(query))

    def count(self, org_id: str, action: str | None = None) -> int:
        """How many entries ``entries`` would answer without a limit."""
        query = self._query(sa.select(sa.func.count(AuditEntry.id)), org_id, action)
        with self._store.read() as session:
            return int(session.scalar(query) or 0)

    @staticmethod
    def _query(
        query: sa.Select[tuple[Any]], org_id: str, action: str | None
    ) -> sa.Select[tuple[Any]]:
        query = query.where(AuditEntry.org_id == org_id)
        return query if action is None else query.where(AuditEntry.action == action)


class LoginFailures:
    """Failed token requests by subject (a digest of a client id or an address)."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def since(self, subjects: Iterable[str], start: datetime) -> dict[str, list[datetime]]:
        """When each subject failed after ``start``, oldest first (subjects without: absent)."""
        query = (
            sa.select(LoginFailure.subject, LoginFailure.at)
            .where(LoginFailure.subject.in_(list(subjects)), LoginFailure.at > start)
            .order_by(LoginFailure.at)
        )
        found: dict[str, list[datetime]] = {}
        with self._store.read() as session:
            for subject, at in session.execute(query):
                found.setdefault(subject, []).append(at)
        return found

    def add(self, subjects: Iterable[str], at: datetime, forget_before: datetime) -> None:
        """Record a failure of each subject at ``at``; failures before ``forget_before`` go."""
        with self._store.write() as session:
            session.execute(sa.delete(LoginFailure).where(LoginFailure.at <= forget_before))
            session.add_all(LoginFailure(subject=subject, at=at) for subject in subjects)
