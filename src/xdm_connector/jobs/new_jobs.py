"""Wake-ups of this process's idle workers when this process commits a new job.

On the embedded default (``serve`` on SQLite) the API and the worker share a process, and
SQLite has no notifications: without this an idle worker sees a triggered job only at its
next poll. Every committed session of the process that added a job (or a slice) sets the
event of each waiting worker of the process (``store/job_changes.py``), so the worker
claims it at once::

    wakeups = NewJobs(stopping)
    while not stopping.is_set():
        if not worker.run_once():
            wakeups.wait(settings.worker_poll_seconds)  # returns early on a new job

A job created by another process (a command) is still found by the poll.
"""

from __future__ import annotations

import threading

from xdm_connector.store.job_changes import JobChange, follow


class NewJobs:
    """Waiting for a job committed by this process, the stop event or the timeout."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.arrived = threading.Event()
        self._unfollow = follow(self.arrived.set, JobChange.ADDED)

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
        self._unfollow()
