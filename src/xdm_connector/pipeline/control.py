"""Signals between a worker and the job (or the slice of a job) it runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from xdm_connector.errors import LeaseLost, XdmcError
from xdm_connector.pipeline.source_retries import SourceRetries

log = logging.getLogger(__name__)

HOLD_CHECK_SECONDS = 1.0
"""How often running work checks that its worker still holds it (a cancel is seen then)."""


class JobAborted(XdmcError):
    """The job was told to stop (lease lost, cancel, shutdown past its grace period)."""

    code = "XDMC-ABORTED"

    def __init__(self, batch_id: str = "") -> None:
        super().__init__("the job was aborted")
        self.batch_id = batch_id


@dataclass
class JobControl:
    """Signals between a worker and the job it runs."""

    owner: str
    abort: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    batch_id: str = ""
    source_retries: SourceRetries = field(default_factory=SourceRetries)
    """How often the job's source was read again (its details say so, whatever the end)."""

    def check(self) -> None:
        """Raise ``JobAborted`` if the job must stop; called between batches and files."""
        if self.abort.is_set():
            raise JobAborted(self.batch_id)


def keep_alive(
    control: JobControl,
    done: threading.Event,
    *,
    lease_seconds: float,
    extend: Callable[[], None],
    holds: Callable[[], bool],
    what: str,
) -> None:
    """Until ``done``: extend a lease (``extend``) every third of it, and in between check
    every second that it is still held (``holds``). Once it is not (cancelled, aborted,
    reaped, its job ended), tell the work to stop at its next boundary (``control.abort``).

    ``extend`` raises ``LeaseLost`` when the lease is gone; other store errors are logged
    and tried again at the next tick.
    """
    interval = lease_seconds / 3
    next_beat = time.monotonic() + interval
    while not done.wait(min(interval, HOLD_CHECK_SECONDS)):
        try:
            if time.monotonic() >= next_beat:
                extend()
                next_beat = time.monotonic() + interval
            elif not holds():
                raise LeaseLost(f"{what} is no longer held by {control.owner}")
        except LeaseLost:
            log.warning("%s is no longer held by this worker: stopping it", what)
            control.abort.set()
            return
        except XdmcError as exc:
            log.warning("heartbeat of %s failed: %s", what, exc)
