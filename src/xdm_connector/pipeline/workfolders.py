"""The work folders of export jobs: where a job, or a slice of it, writes its batch files
before they are sent.

::

    <home>/work/job-<job id>-<attempt>/                  a job's own files
    <home>/work/job-<job id>-slice-<number>-<suffix>/    the files of one slice of it

A run removes its folder when it ends, but a worker killed mid-run leaves its folder
behind (about 15 MB per 300,000 records). ``remove_job`` removes every folder a job left
on this machine once it ends: the worker that ends it and the recovery of a job whose
worker is gone call it (through ``remove_ended``, which logs a failure) before they record
the end, and ``lake clean`` for the jobs no longer in progress. The folder of a slice still running under its lease is kept: its
worker removes it when the slice stops (within a second of the job's end)::

    folders = WorkFolders(settings.home)
    folders.remove_job(store, 17)   # [Path("var/work/job-17-1"), ...]
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xdm_connector.errors import XdmcError
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.slices import HELD_STATES
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

_NAME = re.compile(r"job-(\d+)-(?:\d+|slice-(\d+)-[0-9a-f]+)")


@dataclass(frozen=True)
class WorkFolder:
    """A work folder, with the job (and the slice of it) it belongs to."""

    path: Path
    job_id: int
    slice_number: int | None


class WorkFolders:
    """The work folders under ``<home>/work``."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "work"

    def of_job(self, job: Job) -> Path:
        """The folder of one attempt of a job."""
        return self.root / f"job-{job.id}-{job.attempt}"

    def of_slice(self, job_id: int, number: int) -> Path:
        """A new folder for one run of a slice of a job."""
        return self.root / f"job-{job_id}-slice-{number}-{uuid.uuid4().hex[:8]}"

    def listed(self, job_id: int | None = None) -> list[WorkFolder]:
        """The work folders there are (of ``job_id`` only, when given), by name."""
        if not self.root.is_dir():
            return []
        pattern = "job-*" if job_id is None else f"job-{job_id}-*"
        found = []
        for path in sorted(self.root.glob(pattern)):
            matched = _NAME.fullmatch(path.name)
            if matched is None or not path.is_dir():
                continue
            number = int(matched[2]) if matched[2] is not None else None
            found.append(WorkFolder(path, int(matched[1]), number))
        return found

    def remove_job(self, store: Store, job_id: int, now: datetime | None = None) -> list[Path]:
        """Remove the folders of a job that ends or has ended, but those of its slices
        still running under their lease; answers those removed."""
        folders = self.listed(job_id)
        running: set[int] = set()
        if any(folder.slice_number is not None for folder in folders):
            at = now or utcnow()
            running = {
                piece.number
                for piece in store.slices.of_job(job_id)
                if piece.state in HELD_STATES
                and piece.lease_expires_at is not None
                and piece.lease_expires_at >= at
            }
        removed = []
        for folder in folders:
            if folder.slice_number in running:
                continue
            shutil.rmtree(folder.path, ignore_errors=True)
            if not folder.path.exists():
                removed.append(folder.path)
        return removed

    def remove_ended(self, store: Store, job_id: int) -> None:
        """``remove_job`` for a job that ends now, best effort: a failure is logged, and
        ``lake clean`` removes the folders later."""
        try:
            removed = self.remove_job(store, job_id)
        except XdmcError as exc:
            log.warning("the work folders of job %s stay: %s", job_id, exc)
            return
        if removed:
            log.info("job %s: %d work folders removed", job_id, len(removed))
