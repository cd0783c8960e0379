"""Wake-ups of this process's idle workers when this process commits a new job.

On the embedded default (``serve`` on SQLite) the API and the worker share a process, and
SQLite has no notifications: without this an idle worker sees a triggered job only at its
next poll. Every committed session of the process that added a job (or a slice) sets the
event of each waiting worker of the process, so the worker claims it at once::

    wakeups = NewJobs(stopping)
    while not stopping.is_set():
        if not worker.run_once():
            wakeups.wait(settings.worker_poll_seconds)  # returns early on a new job

A job created by another process (a command) is still found by the poll.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from xdm_connector.store.models import Job, JobSlice

_ADDED = "xdmc_added_job"
_waiting: set[threading.Event] = set()
_guard = threading.Lock()
_listening = False


class NewJobs:
    """Waiting for a job committed by this process, the stop event or the timeout."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.arrived = threading.Event()
        _listen()
        with _guard:
            _waiting.add(self.arrived)

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner on a new job or a stop."""
        if not self.stopping.is_set():
            self.arrived.wait(timeout)
        # Cleared before the next turn claims: a job committed after this is waited for no more.
        self.arrived.clear()

    def wake(self) -> None:
        """End the wait now (a stop)."""
        self.arrived.set()

    def close(self) -> None:
        with _guard:
            _waiting.discard(self.arrived)


def _listen() -> None:
    global _listening
    with _guard:
        if _listening:
            return
        event.listen(Session, "after_flush", _note_added)
        event.listen(Session, "after_commit", _wake_on_commit)
        event.listen(Session, "after_soft_rollback", _forget)
        _listening = True


def _note_added(session: Session, _context: Any) -> None:
    # After a flush the session's "new" list still holds what the flush inserted.
    if any(isinstance(added, (Job, JobSlice)) for added in session.new):
        session.info[_ADDED] = True


def _wake_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's commit: the job is not committed until its transaction is
    if session.info.pop(_ADDED, False):
        with _guard:
            for arrived in _waiting:
                arrived.set()


def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    if rolled_back.parent is None:  # the whole transaction rolled back, not a savepoint
        session.info.pop(_ADDED, None)
