"""The key of a job's batch at its destination."""

from __future__ import annotations

from typing import Protocol


class BatchOwner(Protocol):
    """What names a job's batch: its organization, mapping and id (a store ``Job``)."""

    @property
    def org_id(self) -> str: ...

    @property
    def mapping_id(self) -> str: ...

    @property
    def id(self) -> int: ...


def batch_key(job: BatchOwner) -> str:
    """The destination batch key of a job: the same for every attempt of the job, so that an
    attempt finds the batch of an earlier one (its files replaced by name)."""
    return f"{job.org_id}-{job.mapping_id}-{job.id}"
