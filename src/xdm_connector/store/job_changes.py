"""Wake-ups of this process's followers when this process commits a change to its jobs.

On the embedded default (``serve``: the API and the worker share a process, and SQLite
has no notifications) two followers would otherwise only poll the store:

- an idle worker waits for a new job (``JobChange.ADDED``: a job or a slice added) and
  claims it at once (``jobs/new_jobs.py``);
- a request's event stream (``api/ingestion_events.py``) waits for its job to change
  (``JobChange.WRITTEN``: a job added, changed or deleted) and tells it at once.

::

    with following(wake, JobChange.WRITTEN):  # ``wake()`` is called after each commit
        ...                                  # of this process that wrote a job

A change committed by another process (a worker or a command of its own) is found by the
follower's poll. ``wake`` runs in the thread that commits, inside the commit's hooks: it
must only hand the news over (set an event), never raise or wait.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from xdm_connector.store.models import Job, JobSlice


class JobChange(enum.Enum):
    """What a commit did to the jobs, as a follower asks to hear of it."""

    ADDED = "added"
    """A job or a slice was added."""
    WRITTEN = "written"
    """A job was added, changed or deleted."""


_CHANGES = "xdmc_job_changes"
_followers: dict[Callable[[], None], JobChange] = {}
_guard = threading.Lock()
_listening = False


def follow(wake: Callable[[], None], change: JobChange) -> Callable[[], None]:
    """Call ``wake()`` after each commit of this process that made ``change``, until the
    function answered is called."""
    _listen()
    with _guard:
        _followers[wake] = change

    def unfollow() -> None:
        with _guard:
            _followers.pop(wake, None)

    return unfollow


@contextmanager
def following(wake: Callable[[], None], change: JobChange) -> Iterator[None]:
    """``follow`` while the block runs."""
    unfollow = follow(wake, change)
    try:
        yield
    finally:
        unfollow()


def _listen() -> None:
    global _listening
    with _guard:
        if _listening:
            return
        event.listen(Session, "do_orm_execute", _note_statement)
        event.listen(Session, "after_flush", _note_flushed)
        event.listen(Session, "after_commit", _wake_on_commit)
        event.listen(Session, "after_soft_rollback", _forget)
        _listening = True


def _note(session: Session, *changes: JobChange) -> None:
    session.info.setdefault(_CHANGES, set()).update(changes)


def _note_statement(state: ORMExecuteState) -> None:
    kind = None if state.bind_mapper is None else state.bind_mapper.class_
    if kind is Job and (state.is_update or state.is_insert or state.is_delete):
        _note(state.session, JobChange.WRITTEN)


def _note_flushed(session: Session, _context: Any) -> None:
    # After a flush the session's "new", "dirty" and "deleted" still hold what it wrote.
    if any(isinstance(added, (Job, JobSlice)) for added in session.new):
        _note(session, JobChange.ADDED)
    if any(isinstance(found, Job) for found in (*session.new, *session.dirty, *session.deleted)):
        _note(session, JobChange.WRITTEN)


def _wake_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's commit: nothing is committed until its transaction is
    changes = session.info.pop(_CHANGES, None)
    if changes:
        with _guard:
            woken = [wake for wake, change in _followers.items() if change in changes]
        for wake in woken:
            wake()


def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    if rolled_back.parent is None:  # the whole transaction rolled back, not a savepoint
        session.info.pop(_CHANGES, None)
