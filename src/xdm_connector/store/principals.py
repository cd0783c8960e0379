"""Who holds a bearer token, remembered for at most ``PRINCIPAL_CACHE_SECONDS``.

Resolving a token reads the store (token, integration, groups, roles); an API caller sends
the same token with every request, so each ``Store`` keeps the answers in a
``PrincipalCache``. An entry lives at most ``PRINCIPAL_CACHE_SECONDS`` (2 s), and never past
its token's expiry, so:

- a change this process commits to who may do what (a secret rotated, an integration or a
  token deleted, a role granted or revoked, a membership changed, through any ``Store`` of
  the process) empties every cache of the process when it commits, before the call that
  made it returns (``watch_credential_changes``);
- a change committed by another process (the CLI, another API process) takes effect here
  within ``PRINCIPAL_CACHE_SECONDS``;
- an expired token is refused at its expiry, cached or not.

A failed lookup is never cached: an unknown token reads the store every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from xdm_connector.store.models import (
    AccessToken,
    GroupRole,
    Integration,
    IntegrationGroup,
    Organization,
    SecurityGroup,
    utcnow,
)


@dataclass(frozen=True)
class Principal:
    """Who calls: an integration of one organization, with the roles of its groups."""

    client_id: str
    org_id: str
    roles: frozenset[str]


PRINCIPAL_CACHE_SECONDS = 2.0
"""Longest time a resolved token is answered from memory (the bound on revocation's delay
across processes)."""

PRINCIPAL_CACHE_ENTRIES = 4096
"""Most tokens a cache remembers; past it, the oldest entries go first."""

CREDENTIAL_TABLES = frozenset(
    str(model.__tablename__)
    for model in (Organization, SecurityGroup, GroupRole, Integration, IntegrationGroup)
)
"""Tables any change of which may change a token's principal. ``access_tokens`` counts
too, except for a new token (it revokes nothing)."""

_CHANGED = "xdmc_credentials_changed"


@dataclass(frozen=True)
class TokenHolder:
    """The principal behind an unexpired token, and when the token expires."""

    principal: Principal
    expires_at: datetime


class _Generation:
    """How many credential changes this process has committed, through any ``Store``.

    Process-wide on purpose: the CLI, the UI and the API may each hold a ``Store`` of the
    same database in one process, and a revocation through one must reach the others' caches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def advance(self) -> None:
        with self._lock:
            self.value += 1


_GENERATION = _Generation()


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    generation: int
    valid_until: float
    """``time.monotonic()`` past which the entry is not answered."""


class PrincipalCache:
    """Tokens' principals of one store, each kept at most ``ttl_seconds``::

    cache = PrincipalCache()
    cache.get(token_hash)            # None: not cached (or too old, or revoked)
    cache.put(token_hash, holder, cache.generation())
    """

    def __init__(
        self,
        ttl_seconds: float = PRINCIPAL_CACHE_SECONDS,
        max_entries: int = PRINCIPAL_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def generation() -> int:
        """The process's count of credential changes: read it *before* reading the store,
        and give it to ``put``, so that an answer read before a revocation is never kept
        after it."""
        return _GENERATION.value

    def get(self, token_hash: str) -> Principal | None:
        """The cached principal of the token, if it is fresh, unexpired and not revoked."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry.generation != _GENERATION.value or self._clock() >= entry.valid_until:
            self._entries.pop(token_hash, None)
            return None
        return entry.principal

    def put(self, token_hash: str, holder: TokenHolder, generation: int) -> None:
        """Remember ``holder`` (read from the store after ``generation`` was taken)."""
        if self._ttl <= 0 or generation != _GENERATION.value:
            return
        now = self._clock()
        token_left = (holder.expires_at - utcnow()).total_seconds()
        valid_until = now + min(self._ttl, token_left)
        if valid_until <= now:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._evict(now)
            self._entries[token_hash] = _Entry(holder.principal, generation, valid_until)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def _evict(self, now: float) -> None:
        current = _GENERATION.value
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.valid_until <= now or entry.generation != current
        ]
        for key in stale:
            del self._entries[key]
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]


def watch_credential_changes(factory: sessionmaker[Session]) -> None:
    """Make every commit of ``factory``'s sessions that changes a credential table advance
    the process's generation, which empties every ``PrincipalCache`` of the process."""
    event.listen(factory, "before_flush", _flushed)
    event.listen(factory, "do_orm_execute", _executed)
    event.listen(factory, "after_commit", _committed)
    event.listen(factory, "after_rollback", _rolled_back)


def _changes_credentials(table: str, *, insert: bool) -> bool:
    if table == AccessToken.__tablename__:
        return not insert
    return table in CREDENTIAL_TABLES


def _flushed(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    changed = (
        any(_changes_credentials(_table(item), insert=True) for item in session.new)
        or any(_changes_credentials(_table(item), insert=False) for item in session.dirty)
        or any(_changes_credentials(_table(item), insert=False) for item in session.deleted)
    )
    if changed:
        session.info[_CHANGED] = True


def _executed(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name is None or _changes_credentials(name, insert=state.is_insert):
        # A statement on a table it cannot name is counted as a change, to be safe.
        state.session.info[_CHANGED] = True


def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _GENERATION.advance()


def _rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def _table(item: object) -> str:
    table = getattr(type(item), "__tablename__", "")
    return table if isinstance(table, str) else ""
