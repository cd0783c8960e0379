"""Signals between a worker and the job (or the slice of a job) it runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from xdm_connector.errors import XdmcError


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

    def check(self) -> None:
        """Raise ``JobAborted`` if the job must stop; called between batches and files."""
        if self.abort.is_set():
            raise JobAborted(self.batch_id)
