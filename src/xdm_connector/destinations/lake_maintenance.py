"""Upkeep of the lake's Delta tables: compaction of small files, and vacuum of old ones.

::

    optimize_table(lake, "acme", "profiles")              # one OPTIMIZE commit, or none
    vacuum_table(lake, "acme", "profiles", retain_hours=168)
    LakeMaintenance(destinations).optimize(org="acme")   # every table of the organization

**Optimize** rewrites a table's small files (a 15-minute schedule makes one or a few per
commit) into files of about ``TARGET_FILE_BYTES``, in one commit that removes the small
ones; the rows, and every ``txn`` of the table, are unchanged. It is safe while jobs
commit: an append that lands meanwhile does not touch the files compacted, and delta-rs
commits the compaction over it; a merge or a withdrawal that removed one of them makes the
compaction's commit fail, and it is tried again on the new version (``OPTIMIZE_ATTEMPTS``
times, then given up: transient ``DestinationError``, nothing changed). The job's commit
that conflicts with a compaction fails transiently too and is retried by its destination.

**Vacuum** deletes the files that commits *removed* (the small files an optimize
compacted, those a merge rewrote, a withdrawn batch's) once removed longer ago than
``retain_hours``: delta-rs's "lite" vacuum, which reads only the log's ``remove`` actions.
It never deletes a file that no commit mentions, so never a batch's files that wait for
their commit (staged under ``<lake>/_staging/``, outside every table, or already landed in
the table's folder), nor one that the current version, or any version younger than the
retention, references. Nor the rewrites an upsert killed before its commit left, which no
commit names either: ``lake clean`` removes those (``services/lake_cleaning.py``). A
retention below the table's own
(``delta.deletedFileRetentionDuration``, 7 days by default) would break time travel to the
versions in between and readers still on them: it is refused (``XDMC-LAKE-RETENTION``)
unless ``force`` is given (``lake vacuum --force``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import CommitProperties

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.config import LakeConfig, parse_destination
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.errors import DestinationError, InvalidInput, NotFound

log = logging.getLogger(__name__)

OPTIMIZE_ATTEMPTS = 5
TARGET_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_RETENTION_HOURS = 168.0
"""Delta's ``delta.deletedFileRetentionDuration`` when a table does not set it: 7 days."""
RETENTION_CODE = "XDMC-LAKE-RETENTION"

Operation = Literal["optimize", "vacuum"]
_INTERVAL = re.compile(r"interval\s+(\d+)\s+(second|minute|hour|day|week)s?", re.IGNORECASE)
_HOURS_PER = {"second": 1 / 3600, "minute": 1 / 60, "hour": 1, "day": 24, "week": 168}


@dataclass(frozen=True)
class TableUpkeep:
    """What one optimize or vacuum did to one table."""

    org: str
    dataset: str
    operation: Operation
    files_added: int = 0
    files_removed: int = 0
    version: int | None = None
    """The table's version after it (None: no table)."""

    def document(self) -> dict[str, Any]:
        """The outcome as the command line prints it."""
        return {
            "org": self.org,
            "dataset": self.dataset,
            "operation": self.operation,
            "filesAdded": self.files_added,
            "filesRemoved": self.files_removed,
            "version": self.version,
        }


def table_datasets(lake: LakeTables, org: str) -> list[str]:
    """The datasets of ``org`` that have a table in ``lake``, by name."""
    check_name(org, "Organization")
    return [
        dataset
        for dataset in lake.storage.folders(org)
        if not dataset.startswith(("_", ".")) and lake.storage.exists(f"{org}/{dataset}/_delta_log")
    ]


def optimize_table(
    lake: LakeTables, org: str, dataset: str, *, attempts: int = OPTIMIZE_ATTEMPTS
) -> TableUpkeep:
    """Compact the table's small files in one commit (none when nothing is to compact)."""
    for attempt in range(1, attempts + 1):
        table = _table(lake, org, dataset)
        try:
            metrics = table.optimize.compact(
                target_size=TARGET_FILE_BYTES,
                commit_properties=CommitProperties(custom_metadata={"xdmc.maintenance": "true"}),
            )
        except CommitFailedError as exc:
            # A concurrent commit removed a file being compacted: the compaction's commit is
            # refused whole (nothing changed); plan it again on the new version.
            log.info(
                "optimize of %s/%s lost to a concurrent commit (attempt %d of %d): %s",
                org,
                dataset,
                attempt,
                attempts,
                exc,
            )
            continue
        except DeltaError as exc:
            raise DestinationError(f"the lake could not optimize {org}/{dataset}: {exc}") from exc
        return TableUpkeep(
            org,
            dataset,
            "optimize",
            files_added=int(metrics.get("numFilesAdded", 0)),
            files_removed=int(metrics.get("numFilesRemoved", 0)),
            version=_version(lake, org, dataset),
        )
    raise DestinationError(
        f"optimize of {org}/{dataset} gave up after {attempts} attempts lost to concurrent "
        "commits; nothing changed",
        transient=True,
    )


def vacuum_table(
    lake: LakeTables, org: str, dataset: str, *, retain_hours: float, force: bool = False
) -> TableUpkeep:
    """Delete the files commits removed longer than ``retain_hours`` ago (see the module)."""
    table = _table(lake, org, dataset)
    minimum = retention_hours(table)
    if retain_hours < minimum and not force:
        raise InvalidInput(
            f"a vacuum of {org}/{dataset} retaining {retain_hours:g} hours is below the "
            f"table's retention of {minimum:g} hours: the versions in between could no longer "
            "be read; give --force to vacuum anyway",
            code=RETENTION_CODE,
        )
    try:
        removed = table.vacuum(
            retention_hours=int(retain_hours),
            dry_run=False,
            enforce_retention_duration=not force,
            full=False,  # the log's removed files only: never a file no commit names
            commit_properties=CommitProperties(custom_metadata={"xdmc.maintenance": "true"}),
        )
    except DeltaError as exc:
        raise DestinationError(f"the lake could not vacuum {org}/{dataset}: {exc}") from exc
    return TableUpkeep(
        org,
        dataset,
        "vacuum",
        files_removed=len(removed),
        version=_version(lake, org, dataset),
    )


def retention_hours(table: DeltaTable) -> float:
    """The table's ``delta.deletedFileRetentionDuration`` in hours (168 when unset)."""
    configured = table.metadata().configuration.get("delta.deletedFileRetentionDuration")
    if not configured:
        return DEFAULT_RETENTION_HOURS
    found = _INTERVAL.fullmatch(configured.strip())
    if found is None:
        return DEFAULT_RETENTION_HOURS  # a spelling this does not read: delta-rs still checks
    return int(found.group(1)) * _HOURS_PER[found.group(2).lower()]


class LakeMaintenance:
    """Optimize or vacuum the tables of one dataset, one organization, or every one in the
    store whose destination is the lake (each in its organization's lake)."""

    def __init__(self, destinations: OrgDestinations) -> None:
        self.destinations = destinations

    def optimize(self, *, org: str | None = None, dataset: str | None = None) -> list[TableUpkeep]:
        """Compact the tables chosen (see ``tables``)."""
        return [optimize_table(lake, o, d) for lake, o, d in self.tables(org, dataset)]

    def vacuum(
        self,
        *,
        retain_hours: float,
        force: bool = False,
        org: str | None = None,
        dataset: str | None = None,
    ) -> list[TableUpkeep]:
        """Vacuum the tables chosen (see ``tables``)."""
        return [
            vacuum_table(lake, o, d, retain_hours=retain_hours, force=force)
            for lake, o, d in self.tables(org, dataset)
        ]

    def tables(
        self, org: str | None = None, dataset: str | None = None
    ) -> Iterator[tuple[LakeTables, str, str]]:
        """The tables of ``dataset`` of ``org``, of every dataset of ``org``, or of every
        organization on the lake; ``NotFound`` for a dataset that has no table yet."""
        if dataset is not None and org is None:
            raise InvalidInput("a dataset is named with its organization (--org)")
        if org is not None:
            orgs = [check_name(org, "Organization")]
        else:
            orgs = [
                organization.id
                for organization in self.destinations.store.tenants.list_organizations()
                if self.destinations.override is None
                and isinstance(parse_destination(organization.destination), LakeConfig)
            ]
        for org_id in orgs:
            lake = self.destinations.lake(org_id)
            if dataset is not None:
                if lake.table(org_id, check_name(dataset, "Dataset")) is None:
                    raise NotFound(f"dataset {dataset} of {org_id} has no table in the lake yet")
                yield lake, org_id, dataset
                continue
            for found in table_datasets(lake, org_id):
                yield lake, org_id, found


def _table(lake: LakeTables, org: str, dataset: str) -> DeltaTable:
    table = lake.table(org, dataset)
    if table is None:
        raise NotFound(f"dataset {dataset} of {org} has no table in the lake yet")
    return table


def _version(lake: LakeTables, org: str, dataset: str) -> int | None:
    table = lake.table(org, dataset)
    return None if table is None else table.version()
