"""A dataset table's versions, each with the request and job that committed it.

::

    versions = table_history(lake, store, "acme", "profiles")
    # [TableVersion(version=1, operation="MERGE", request_id=18, job_id=42, rows=1200, ...),
    #  TableVersion(version=0, operation="CREATE TABLE", request_id=17, job_id=41, ...)]
    version_of_request(lake, store, "acme", "profiles", 17)  # 0

A job's commit names its job (``xdmc.job``, see ``lake_tables``); the request id, which
the organization sees, is the job's in the store. Commits of maintenance (``OPTIMIZE``,
``VACUUM``) and withdrawals name no job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.errors import NotFound
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store


@dataclass(frozen=True)
class TableVersion:
    """One version of a dataset's table."""

    version: int
    timestamp: dt.datetime | None
    operation: str
    batch_id: str | None
    mapping_id: str | None
    job_id: int | None
    request_id: int | None
    rows: int | None

    def document(self) -> dict[str, Any]:
        """The version as the command line prints it."""
        return {
            "version": self.version,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "operation": self.operation,
            "requestId": self.request_id,
            "jobId": self.job_id,
            "mappingId": self.mapping_id,
            "batchId": self.batch_id,
            "rows": self.rows,
        }


def table_history(lake: LakeTables, store: Store, org: str, dataset: str) -> list[TableVersion]:
    """The dataset's table versions, newest first; ``NotFound`` before its first commit."""
    check_name(org, "Organization")
    check_name(dataset, "Dataset")
    table = lake.table(org, dataset)
    if table is None:
        raise NotFound(f"dataset {dataset} of {org} has no table in the lake yet")
    commits = table.history()
    job_ids = {int(c["xdmc.job"]) for c in commits if str(c.get("xdmc.job", "")).isdigit()}
    requests = _request_ids(store, org, job_ids)
    versions = []
    for commit in commits:
        job = str(commit.get("xdmc.job", ""))
        job_id = int(job) if job.isdigit() and commit.get("xdmc.mapping") else None
        rows = commit.get("xdmc.rows")
        stamp = commit.get("timestamp")
        versions.append(
            TableVersion(
                version=int(commit["version"]),
                timestamp=dt.datetime.fromtimestamp(stamp / 1000, dt.UTC) if stamp else None,
                operation=str(commit.get("operation", "")),
                batch_id=commit.get("xdmc.batch"),
                mapping_id=commit.get("xdmc.mapping") or None,
                job_id=job_id,
                request_id=requests.get(job_id) if job_id is not None else None,
                rows=int(rows) if rows is not None else None,
            )
        )
    return versions


def version_of_request(
    lake: LakeTables, store: Store, org: str, dataset: str, request_id: int
) -> int:
    """The table version a request's job committed (not withdrawn); ``NotFound`` if none."""
    for version in table_history(lake, store, org, dataset):
        if version.request_id == request_id and version.operation not in ("DELETE",):
            return version.version
    raise NotFound(f"request {request_id} committed no version of dataset {dataset}")


def _request_ids(store: Store, org: str, job_ids: set[int]) -> dict[int, int]:
    """The request id of each job of ``org`` among ``job_ids``."""
    if not job_ids:
        return {}
    with store.read() as session:
        rows = session.execute(
            sa.select(Job.id, Job.request_id).where(Job.org_id == org, Job.id.in_(sorted(job_ids)))
        )
        return {int(job_id): int(request_id) for job_id, request_id in rows}
