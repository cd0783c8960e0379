"""Whether the worker holding a lease is certainly gone, before its lease runs out.

A worker's name is ``<host>:<pid>:<random>`` (``jobs/worker.py``). A lease outlives the
process that held it by up to its length: a server killed and started again would wait that
long before recovering its own jobs. Two things make a worker's death certain sooner:

- **The same host.** A worker is certainly gone when no process has its pid any more, or
  when its pid is this process's own and no worker of this process has its name (a
  restarted container's process often gets the same pid).
- **Its PostgreSQL session** (any host). A worker on a PostgreSQL store holds, for its whole
  life, a session-level advisory lock keyed by its name on a connection of its own
  (``SessionLock``), and says so by the suffix ``SESSION_LOCK_SUFFIX`` of its name. Another
  worker that can take that lock (it lets it go at once) knows the session ended: the
  process was killed, its host lost, or the network cut long enough for the server to drop
  the session. The server drops the session of a vanished host only when TCP says so
  (``tcp_keepalives_*``) or ``idle_session_timeout`` ends it; a killed process's session
  ends at once, its kernel closes the socket.

A worker whose name does not promise a lock (SQLite, or an older version) is left to its
lease unless the same host answers for it. psycopg is imported by the first session lock:
a process on a SQLite store never loads it (about 45 ms).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import weakref
from typing import TYPE_CHECKING

import sqlalchemy as sa

from xdm_connector.store.engine import normalize_url
from xdm_connector.store.store import Store

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

SESSION_LOCK_SUFFIX = ":pg"
"""Ends the name of a worker that holds its session lock for its life (PostgreSQL)."""
_LOCK_NAMESPACE = b"xdmc-worker-session:"

_live_in_this_process: set[str] = set()
_guard = threading.Lock()


def register(owner: str) -> None:
    """Say that the worker named ``owner`` lives in this process."""
    with _guard:
        _live_in_this_process.add(owner)


def unregister(owner: str) -> None:
    """Say that the worker named ``owner`` stopped."""
    with _guard:
        _live_in_this_process.discard(owner)


def lock_key(owner: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of the worker named ``owner``."""
    digest = hashlib.blake2b(_LOCK_NAMESPACE + owner.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def certainly_gone(owner: str, store: Store | None = None) -> bool:
    """Whether the worker named ``owner`` is certainly not running any more: by its pid on
    this host, or, on a PostgreSQL ``store``, by the session lock its name promises."""
    with _guard:
        if owner in _live_in_this_process:
            return False
    if _gone_from_this_host(owner):
        return True
    if store is None or store.dialect != "postgresql" or not owner.endswith(SESSION_LOCK_SUFFIX):
        return False
    return _session_ended(store, owner)


def _gone_from_this_host(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # a process of another user has that pid: it may be the worker
    return False


def _session_ended(store: Store, owner: str) -> bool:
    """Whether the session that held ``owner``'s lock ended: this session can take it."""
    key = lock_key(owner)
    try:
        with store.engine.connect() as connection:
            taken = bool(connection.scalar(sa.select(sa.func.pg_try_advisory_lock(key))))
            if taken:
                # Let it go on the same session at once: only the question was asked.
                connection.scalar(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("cannot ask whether worker %s is gone: %s", owner, exc)
        return False
    return taken


class SessionLock:
    """The advisory lock a worker holds on a PostgreSQL session of its own for its life:
    while it is held, other workers know the worker lives (``certainly_gone``)."""

    def __init__(self, store: Store, owner: str) -> None:
        url = normalize_url(store.engine.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._key = lock_key(owner)
        self.owner = owner
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._closing: weakref.finalize[[], SessionLock] | None = None
        # The loop takes the lock, the presence thread checks it: one at a time.
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether the lock is held, as far as this process knows (``check`` asks)."""
        return self._connection is not None and not self._connection.closed

    def hold(self) -> bool:
        """Take the lock if it is not held (on a new session); answers whether it is."""
        with self._guard:
            return self._hold()

    def _hold(self) -> bool:
        import psycopg

        if self.held:
            return True
        try:
            connection = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            log.warning("worker %s cannot open its session lock: %s", self.owner, exc)
            return False
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error as exc:
            connection.close()
            log.warning("worker %s cannot take its session lock: %s", self.owner, exc)
            return False
        if not (row and row[0]):
            connection.close()
            log.error("worker %s: its session lock is held by another session", self.owner)
            return False
        self._connection = connection
        # A worker dropped without stopping (a turn run alone) lets its lock go with it.
        self._closing = weakref.finalize(self, connection.close)
        return True

    def check(self) -> bool:
        """Ask the server that the lock's session still lives; take the lock again (on a new
        session) when it broke. Answers whether the lock is held."""
        import psycopg

        with self._guard:
            if self._connection is not None:
                try:
                    self._connection.execute("SELECT 1")
                except psycopg.Error as exc:
                    log.warning("worker %s lost its session lock (%s)", self.owner, exc)
                    self._release()
            return self._hold()

    def release(self) -> None:
        """Let the lock go, then end its session."""
        import psycopg

        with self._guard:
            connection = self._connection
            if connection is not None and not connection.closed:
                # Unlocked first: the server ends a session a moment after its client
                # closes it, and a worker asking meanwhile would find the lock held.
                try:
                    connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
                except psycopg.Error as exc:  # the session is gone, and its lock with it
                    log.warning("worker %s lost its session lock (%s)", self.owner, exc)
            self._release()

    def _release(self) -> None:
        if self._closing is not None:
            self._closing()  # closes the connection, once
            self._closing = None
        self._connection = None
