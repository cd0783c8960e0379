"""Wake-ups of this process's followers of requests when this process commits a change to
a job (a new job, its state, its counts, its batch).

On the embedded default (``serve``: the API and the worker share a process) the event
stream of a request (``api/ingestion_events.py``) is told of its job's change as the
change commits, rather than at its next read of the store::

    with following(wake):  # ``wake()`` is called, from the committing thread, after each
        ...                # commit of this process that changed a job

A follower is woken by any job's change and reads its own request again; a change
committed by another process (a worker of its own) is found by the follower's periodic
read. ``wake`` runs in the thread that commits, inside the commit's hooks: it must only
hand the news over (set an event), never raise or wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from xdm_connector.store.models import Job

_CHANGED = "xdmc_changed_job"
_followers: set[Callable[[], None]] = set()
_guard = threading.Lock()
_listening = False


@contextmanager
def following(wake: Callable[[], None]) -> Iterator[None]:
    """Call ``wake()`` after each commit of this process that changes a job, while the
    block runs."""
    _listen()
    with _guard:
        _followers.add(wake)
    try:
        yield
    finally:
        with _guard:
            _followers.discard(wake)


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


def _note_statement(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    written = state.is_update or state.is_insert or state.is_delete
    if written and mapper is not None and mapper.class_ is Job:
        state.session.info[_CHANGED] = True


def _note_flushed(session: Session, _context: Any) -> None:
    # After a flush the session's "new", "dirty" and "deleted" still hold what it wrote.
    if any(isinstance(found, Job) for found in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


def _wake_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's commit: the change is not committed until its transaction is
    if session.info.pop(_CHANGED, False):
        with _guard:
            followers = list(_followers)
        for wake in followers:
            wake()


def _forget(session: Session, rolled_back: SessionTransaction) -> None:
    if rolled_back.parent is None:  # the whole transaction rolled back, not a savepoint
        session.info.pop(_CHANGED, None)
