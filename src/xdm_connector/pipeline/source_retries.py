"""A job's read of its source, tried again after transient errors by the one retry policy.

A read (the plan, the window's high-water mark, its rows shaped and written into the job's
files) fails transiently when the source was busy or its connection went away
(``sources/driver_errors.py``: a locked SQLite file, a PostgreSQL connection ended by
``pg_terminate_backend``, a restart or a failover, ...). It is then tried again under
``XDMC_RETRY_*`` (``retry.py``), and only once the policy gives up does the job fail with
``ACP-880056``; any other error fails it at once.

A read that failed part-way starts again from the start of its window: the files it wrote
are discarded first (``discard``), and the next attempt plans, bounds and reads the window
anew, so the batch holds each record once. The destination batch of an unsliced job only
exists once the read succeeded; a slice puts its files into its job's batch only after its
own read succeeded.

The job's set-up reads every source so (``pipeline/setup.py``). How often that happened,
and the last error that made it, go into the job's details::

    retries = SourceRetries()
    read = read_with_retries(
        lambda: read_window(...), policy=settings.retry_policy(), control=control,
        retries=retries, discard=lambda: shutil.rmtree(workdir), what="job 7",
    )
    retries.document()
    # {"count": 1, "lastError": {"errorClass": "adbc_driver_manager.ProgrammingError",
    #                            "message": "ACP-880056 ... database is locked"}}
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from xdm_connector.errors import SourceError
from xdm_connector.retry import RetryPolicy
from xdm_connector.sources.driver_errors import driver_error_class

log = logging.getLogger(__name__)

T = TypeVar("T")
DETAILS_KEY = "sourceRetries"
"""Where a job's details (and a slice's result) keep its ``SourceRetries.document()``."""


@dataclass
class SourceRetries:
    """How often reading a job's source was tried again, and the error that last made it.

    ``last_error`` is ``{"errorClass": ..., "message": ...}``: the driver's error class and
    the ``SourceError``'s message, in which the source's secrets are already masked.
    """

    count: int = 0
    last_error: dict[str, str] | None = None

    def note(self, error: BaseException) -> None:
        """Count one retry, made because of ``error``."""
        self.count += 1
        message = error.message if isinstance(error, SourceError) else str(error)
        self.last_error = {"errorClass": driver_error_class(error), "message": message}

    def merge(self, document: Mapping[str, Any] | None) -> None:
        """Add the retries of another part of the job (a slice's ``document()``)."""
        if not document or not isinstance(document.get("count"), int):
            return
        self.count += document["count"]
        last = document.get("lastError")
        if isinstance(last, dict):
            self.last_error = {str(key): str(value) for key, value in last.items()}

    def document(self) -> dict[str, Any] | None:
        """What the job's details keep (under ``DETAILS_KEY``); None without a retry."""
        if not self.count:
            return None
        return {"count": self.count, "lastError": self.last_error}


class Stoppable(Protocol):
    """What a read asks of the job's control (``pipeline/control.py`` ``JobControl``, which
    holds the job's ``SourceRetries``): the event that tells it to stop, and the check."""

    @property
    def abort(self) -> threading.Event:
        """Set when the job must stop."""

    def check(self) -> None:
        """Raise ``JobAborted`` once the job must stop."""


def read_with_retries(
    read: Callable[[], T],
    *,
    policy: RetryPolicy,
    control: Stoppable,
    retries: SourceRetries,
    discard: Callable[[], None],
    what: str,
) -> T:
    """``read()``, tried again by ``policy`` while it fails with a transient error.

    Before each new attempt, ``discard()`` drops what the failed one wrote and the retry is
    counted in ``retries``. The waits end early, with ``JobAborted``, when the job is told
    to stop (a cancel, a lost lease, a shutdown).
    """

    def before_retry(attempt: int, error: Exception, wait: float) -> None:
        discard()
        retries.note(error)
        log.warning(
            "reading the source of %s failed (attempt %d of %d), reading it again from the "
            "start in %.2f s: %s",
            what,
            attempt,
            policy.attempts,
            wait,
            error,
        )

    def wait_unless_stopped(seconds: float) -> None:
        control.abort.wait(seconds)
        control.check()

    patient = dataclasses.replace(policy, sleep=wait_unless_stopped)
    return patient.call(read, what=f"reading the source of {what}", on_retry=before_retry)
