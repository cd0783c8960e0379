"""When the workers' periodic tasks are due (the lake's ``optimize`` and ``vacuum``).

::

    if store.maintenance.take("lake-optimize", timedelta(minutes=15), owner, now):
        ...  # this worker, and no other, runs the task for this interval

A task's first ``take`` only plans it one interval later. Then each worker that finds the
task due moves its ``next_run_at`` on with an update conditional on the value it read (as
``JobQueue.schedule_due`` does for the mappings' schedules): any number of workers, on any
number of machines, run a task once per interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from xdm_connector.store.models import MaintenanceSlot
from xdm_connector.store.transactions import Transactions


class MaintenanceSchedule:
    """The slots of the workers' periodic tasks."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def take(self, task: str, interval: timedelta, owner: str, now: datetime) -> bool:
        """Whether ``owner`` takes the task's slot due at ``now`` (then the next is one
        interval later); False when it is not due, or another worker took it."""
        with self._store.read() as session:
            slot = session.get(MaintenanceSlot, task)
            due = None if slot is None else slot.next_run_at
        if due is None:
            try:
                with self._store.write() as session:
                    session.add(MaintenanceSlot(task=task, next_run_at=now + interval))
            except IntegrityError:
                pass  # another worker planned it first
            return False
        if due > now:
            return False
        with self._store.write() as session:
            taken = session.execute(
                sa.update(MaintenanceSlot)
                .where(MaintenanceSlot.task == task, MaintenanceSlot.next_run_at == due)
                .values(next_run_at=now + interval, last_run_at=now, last_owner=owner)
            )
            return cast("sa.CursorResult[Any]", taken).rowcount == 1

    def last_run(self, task: str) -> tuple[datetime | None, str | None]:
        """When the task last ran, and by which worker (None, None: never)."""
        with self._store.read() as session:
            slot = session.get(MaintenanceSlot, task)
            return (None, None) if slot is None else (slot.last_run_at, slot.last_owner)
