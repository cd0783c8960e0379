"""The workers that run, as each says every few seconds (``Worker.announce``).

A worker that stops leaves; one that dies stays listed until its last word is older than a
lease. The coordinator of a large job asks how many are there before cutting it into
slices: alone, a worker reads a window faster whole than slice by slice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from xdm_connector.store.models import WorkerPresence
from xdm_connector.store.transactions import Transactions

FORGET_AFTER = timedelta(days=1)
"""A worker silent for this long is forgotten (its process is long gone)."""


class WorkerRegistry:
    """Presence of the worker processes sharing the store."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def announce(self, owner: str, now: datetime) -> None:
        """Say that ``owner`` runs, as of ``now``."""
        with self._store.write() as session:
            insert = (
                postgresql.insert(WorkerPresence)
                if session.get_bind().dialect.name == "postgresql"
                else sqlite.insert(WorkerPresence)
            )
            # One statement: two threads of a worker announcing at once cannot collide.
            session.execute(
                insert.values(owner=owner, started_at=now, seen_at=now).on_conflict_do_update(
                    index_elements=[WorkerPresence.owner], set_={"seen_at": now}
                )
            )
            session.execute(
                sa.delete(WorkerPresence).where(WorkerPresence.seen_at < now - FORGET_AFTER)
            )

    def leave(self, owner: str) -> None:
        """Say that ``owner`` stopped."""
        with self._store.write() as session:
            session.execute(sa.delete(WorkerPresence).where(WorkerPresence.owner == owner))

    def alive(self, now: datetime, within: timedelta) -> list[str]:
        """The workers heard from since ``now - within``, oldest first."""
        with self._store.read() as session:
            return list(
                session.scalars(
                    sa.select(WorkerPresence.owner)
                    .where(WorkerPresence.seen_at >= now - within)
                    .order_by(WorkerPresence.started_at, WorkerPresence.owner)
                )
            )
