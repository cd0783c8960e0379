"""``lake migrate``: a lake of batch folders made into Delta tables, without the source.

::

    migrated = migrate_lake(Path("var/lake"), destinations, org="acme")
    # [MigratedBatch(org="acme", dataset="profiles", batch_id="3f2a...", job_id=41,
    #                request_id=17, rows=1200, version=0, skipped=False), ...]

The lake before Delta tables kept each dataset as ``<root>/<org>/<dataset>/batch=<id>/``
folders and a ``_manifest.json`` listing them in the order they were committed
(``destinations/lake.py``). Each batch of the manifest, in that order, becomes one commit of
the dataset's table, made as a job's is (``LakeTables``): the same batch id, the mapping as
``txn`` application and the job as version (from the batch key), so ``lake history`` shows
the job and request of each migrated batch, and a job's batch is never committed twice. The
table's mode applies: an ``upsert`` table merges each batch on ``_id`` (the latest batch
wins), an ``append`` one adds it. Parquet files are put as they are (locally a second name,
no copy); JSON Lines batches are converted to Parquet, read with the table's schema once it
has one (else with the types Arrow reads in the JSON).

Idempotent: a batch whose commit is in the table is skipped, so running it again, or after
a crash, changes nothing it already did. A table that already holds a later job of a
mapping than a batch to migrate (an export into Delta before the migration) is refused
(``XDMC-409``) at that batch: its order could not be kept. The batch folders and manifests
stay where they are (no Delta reader looks at them); delete them once the tables are
checked. The batch-folder lake's batches left loading (never committed) are marked aborted,
as ``lake clean`` would have.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import sqlalchemy as sa

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.destinations.lake import LakeDestination, read_json
from xdm_connector.destinations.lake_tables import LakeTables, transaction_of
from xdm_connector.errors import Conflict, InvalidInput
from xdm_connector.store.models import Job

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class MigratedBatch:
    """One batch of the batch-folder lake, and its commit in the dataset's table."""

    org: str
    dataset: str
    batch_id: str
    job_id: int | None
    request_id: int | None
    rows: int | None
    version: int | None
    skipped: bool
    """Its commit was already in the table (an earlier migration)."""

    def document(self) -> dict[str, Any]:
        """The batch as the command line prints it."""
        return {
            "org": self.org,
            "dataset": self.dataset,
            "batchId": self.batch_id,
            "jobId": self.job_id,
            "requestId": self.request_id,
            "rows": self.rows,
            "version": self.version,
            "skipped": self.skipped,
        }


def folder_datasets(root: Path, org: str | None = None) -> Iterator[tuple[str, str]]:
    """The (organization, dataset) pairs of a batch-folder lake with a manifest, by name."""
    if not root.is_dir():
        raise InvalidInput(f"no lake of batch folders at {root}")
    orgs = [check_name(org, "Organization")] if org else sorted(p.name for p in root.iterdir())
    for org_id in orgs:
        folder = root / org_id
        if org_id.startswith(("_", ".")) or not folder.is_dir():
            continue
        for dataset in sorted(p.name for p in folder.iterdir()):
            if (folder / dataset / MANIFEST).is_file():
                yield org_id, dataset


def migrate_lake(
    root: Path,
    destinations: OrgDestinations,
    *,
    org: str | None = None,
    dataset: str | None = None,
) -> list[MigratedBatch]:
    """Commit every batch of the batch-folder lake at ``root`` (of ``org``, of ``dataset``)
    into the tables of each organization's lake, in manifest order; see the module."""
    if dataset is not None and org is None:
        raise InvalidInput("a dataset is named with its organization (--org)")
    source = LakeDestination(root)
    pairs = [
        pair
        for pair in folder_datasets(root, org)
        if dataset is None or pair[1] == check_name(dataset, "Dataset")
    ]
    migrated: list[MigratedBatch] = []
    for org_id, dataset_id in pairs:
        lake = destinations.lake(org_id)
        migrated += _migrate_dataset(source, lake, destinations, org_id, dataset_id)
    for org_id in sorted({org_id for org_id, _ in pairs} | ({org} if org else set())):
        _retire_loading(root, destinations.lake(org_id), org_id)
    return migrated


def _migrate_dataset(
    source: LakeDestination,
    lake: LakeTables,
    destinations: OrgDestinations,
    org: str,
    dataset: str,
) -> list[MigratedBatch]:
    entries = read_json(source.layout.manifest(org, dataset))["batches"]
    requests = _requests(destinations, org, entries)
    done = lake.committed_batch_ids(org, dataset)
    migrated = []
    for entry in entries:
        batch_id, key = str(entry["id"]), str(entry.get("batchKey") or entry["id"])
        txn = transaction_of(org, key)
        job_id = txn.version if txn.mapping else None
        request_id = requests.get(job_id) if job_id is not None else None
        if batch_id in done:
            record = lake.batch(batch_id) or {}
            migrated.append(
                MigratedBatch(
                    org,
                    dataset,
                    batch_id,
                    job_id,
                    request_id,
                    record.get("rows"),
                    record.get("version"),
                    skipped=True,
                )
            )
            continue
        table = lake.table(org, dataset)
        held = table.transaction_version(txn.app_id) if table is not None else None
        if held is not None and held >= txn.version:
            raise Conflict(
                f"the table of {org}/{dataset} already holds job {held} of mapping "
                f"{txn.mapping}, exported after batch {batch_id} (job {txn.version}): migrate "
                "batch folders before the first export into a Delta table"
            )
        new_id = lake.begin_migrated_batch(org=org, dataset=dataset, batch_key=key)
        folder = source.layout.committed(org, dataset, batch_id)
        with tempfile.TemporaryDirectory(prefix="xdmc-migrate-") as work:
            for number, file in enumerate(entry["files"]):
                path = folder / str(file["name"])
                name = f"part-{number:05d}.parquet"
                if path.suffix == ".jsonl":
                    path = _as_parquet(path, Path(work) / name, _schema_of(lake, org, dataset))
                lake.put_file(new_id, name, path, rows=file.get("rows"))
            lake.complete(new_id)
        record = lake.batch(new_id) or {}
        migrated.append(
            MigratedBatch(
                org,
                dataset,
                new_id,
                job_id,
                request_id,
                record.get("rows"),
                record.get("version"),
                skipped=False,
            )
        )
    return migrated


def _schema_of(lake: LakeTables, org: str, dataset: str) -> pa.Schema | None:
    table = lake.table(org, dataset)
    return None if table is None else pa.schema(table.schema().to_arrow())


def _as_parquet(path: Path, target: Path, schema: pa.Schema | None) -> Path:
    """A JSON Lines file rewritten as Parquet, typed by ``schema`` when given."""
    options = pajson.ParseOptions(explicit_schema=schema) if schema is not None else None
    table = pajson.read_json(path, parse_options=options)
    if schema is not None:
        table = table.select(schema.names)
    pq.write_table(table, target, compression="zstd")
    return target


def _requests(
    destinations: OrgDestinations, org: str, entries: list[dict[str, Any]]
) -> dict[int, int]:
    """The request id of each job of ``org`` whose batch the manifest lists."""
    jobs = set()
    for entry in entries:
        txn = transaction_of(org, str(entry.get("batchKey") or entry["id"]))
        if txn.mapping:
            jobs.add(txn.version)
    if not jobs:
        return {}
    with destinations.store.read() as session:
        rows = session.execute(
            sa.select(Job.id, Job.request_id).where(Job.org_id == org, Job.id.in_(sorted(jobs)))
        )
        return {int(job_id): int(request_id) for job_id, request_id in rows}


def _retire_loading(root: Path, lake: LakeTables, org: str) -> None:
    """Mark aborted the batch-folder lake's batches of ``org`` left loading, when the two
    lakes share their records (the same root)."""
    records = root / "_batches"
    if not records.is_dir() or not lake.storage.local or Path(lake.storage.base) != root.resolve():
        return
    for path in sorted(records.glob("*.json")):
        if read_json(path).get("org") == org:
            lake.retire_folder_record(path.stem)
