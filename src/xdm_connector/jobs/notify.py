"""Wake-ups of idle loops when they have work: ``LISTEN/NOTIFY`` on PostgreSQL.

A job is created in a transaction that also sends ``NOTIFY xdmc_jobs`` (``store/jobs.py``);
PostgreSQL delivers it when that transaction commits, so a woken worker finds the job. An
idle worker waits on its own connection, which listens on the channel, for at most its
poll interval: a lost notification (a connection that broke) costs one interval at worst::

    wakeups = wakeups_for(store, stopping)
    while not stopping.is_set():
        if not worker.run_once():
            wakeups.wait(settings.worker_poll_seconds)  # returns early on a new job

The webhook dispatchers wait the same way on ``xdmc_webhooks``, sent with every outbox
row (``store/webhooks.py``): ``WebhookDispatcher(..., wakeups=outbox_wakeups(store))``.
On SQLite (one machine, no notifications) waiting is plain polling, and psycopg, imported
by the first listening connection, is never loaded (about 45 ms).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

from xdm_connector.store.engine import normalize_url
from xdm_connector.store.jobs import JOBS_CHANNEL
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import WEBHOOKS_CHANNEL

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.5


class Wakeups(Protocol):
    """Something an idle worker waits on."""

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner when there may be work."""
        ...

    def close(self) -> None:
        """Release what waiting holds."""
        ...


class Polling:
    """Waiting without notifications: the stop event or the timeout, whichever first."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping

    def wait(self, timeout: float) -> None:
        self.stopping.wait(timeout)

    def close(self) -> None:
        return None


class Listening:
    """Waiting for ``NOTIFY channel`` (``xdmc_jobs`` unless told) on a PostgreSQL
    connection of its own."""

    def __init__(
        self, conninfo: str, stopping: threading.Event, *, channel: str = JOBS_CHANNEL
    ) -> None:
        self.conninfo = conninfo
        self.stopping = stopping
        self.channel = channel
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def listen(self) -> None:
        """Open the connection and listen (done before the worker's first turn)."""
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.conninfo, autocommit=True)
            self._connection.execute(f"LISTEN {self.channel}")

    def wait(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        try:
            self.listen()
            assert self._connection is not None
            # In slices, so that a stop (a signal handler sets the event) is seen soon.
            while not self.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                slice_ = min(left, STOP_CHECK_SECONDS)
                if any(True for _ in self._connection.notifies(timeout=slice_, stop_after=1)):
                    return
        except psycopg.Error as exc:
            log.warning(
                "waiting for notifications on %s failed (%s); polling instead", self.channel, exc
            )
            self.close()
            self.stopping.wait(timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def wakeups_for(store: Store, stopping: threading.Event, *, channel: str = JOBS_CHANNEL) -> Wakeups:
    """How a loop on ``store`` waits for ``channel`` (the workers' unless told): listening
    on PostgreSQL, polling on SQLite."""
    if store.dialect != "postgresql":
        return Polling(stopping)
    import psycopg

    url = normalize_url(store.engine.url).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    listening = Listening(conninfo, stopping, channel=channel)
    try:
        listening.listen()
    except psycopg.Error as exc:
        log.warning("cannot listen for notifications on %s (%s); polling instead", channel, exc)
    return listening


def outbox_wakeups(store: Store) -> Callable[[threading.Event], Wakeups]:
    """How a webhook dispatcher on ``store`` waits, given its stop event: woken by every
    delivery written to the outbox on PostgreSQL, polling on SQLite."""
    return partial(wakeups_for, store, channel=WEBHOOKS_CHANNEL)
