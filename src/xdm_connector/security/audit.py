"""The audit trail: who did what to which object of an organization, and when.

Actors are integration client ids for the API and the pages, ``operator:<login>`` for
commands (``operator_actor``), and ``operator`` for what is done through the library with
its defaults (the demo's set-up). The route, page or command passes the actor in; the
service that makes the change (``services/``) writes its entry in the change's own
transaction (``Store.atomic``), so that a change is never committed without its entry nor
an entry without its change:

- ``services/mappings.py``: ``mapping.create``, ``mapping.change``, ``mapping.delete``;
- ``services/publication.py``: ``publish`` (details: the options given), ``unpublish``,
  ``start``, ``stop``;
- ``services/datasets.py``: ``dataset.create``;
- ``services/ingestion_requests.py`` and ``services/cancellation.py``: ``trigger``
  (a created request) and ``cancel``;
- ``services/organizations.py``: ``organization.create``, ``destination.change``,
  ``group.create``, ``grant``, ``revoke``;
- ``services/integrations.py``: ``integration.create``, ``integration.rotate``,
  ``integration.delete``.

Never a secret, a token or a password in an entry: targets are ids and names.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, overload

from pydantic import BaseModel, ConfigDict

from xdm_connector.security.credentials import OPERATOR
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import AuditEntry
from xdm_connector.store.store import Store

__all__ = ["AuditAction", "AuditRecord", "AuditTrailView", "audit_trail", "operator_actor"]


class AuditRecord(BaseModel):
    """One entry of the audit trail, as the API and the CLI show it."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        """The record of a stored entry."""
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=dict(entry.details or {}),
        )


def operator_actor() -> str:
    """The actor of a command run on this machine: ``operator:<login>``."""
    try:
        return f"{OPERATOR}:{getpass.getuser()}"
    except (KeyError, OSError):
        return OPERATOR


class AuditTrailView(Sequence[AuditRecord]):
    """An organization's audit trail, newest first, read a slice at a time.

    ``len()`` counts in the store and a slice reads only its rows, so that paging through
    a long trail (``api.collections.paginate``) never loads all of it.
    """

    def __init__(self, store: Store, org_id: str, action: str | None = None) -> None:
        self._store = store
        self._org_id = org_id
        self._action = action

    def __iter__(self) -> Iterator[AuditRecord]:
        return iter(self[:])

    def __len__(self) -> int:
        return self._store.tenants.audit.count(self._org_id, self._action)

    @overload
    def __getitem__(self, index: int) -> AuditRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[AuditRecord]: ...

    def __getitem__(self, index: int | slice) -> AuditRecord | list[AuditRecord]:
        if isinstance(index, int):
            position = index + len(self) if index < 0 else index
            found = self[position : position + 1] if position >= 0 else []
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            return list(self)[index]
        entries = self._store.tenants.audit.entries(
            self._org_id, self._action, offset=start, limit=max(0, stop - start)
        )
        return [AuditRecord.of(entry) for entry in entries]


def audit_trail(store: Store, org_id: str, action: str | None = None) -> AuditTrailView:
    """The organization's audit trail, newest first; only ``action``'s entries if given."""
    store.tenants.get_organization(org_id)
    return AuditTrailView(store, org_id, action)
