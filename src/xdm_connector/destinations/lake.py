"""The local data lake: one folder per dataset, batches committed by one atomic rename.

::

    <root>/<org>/<dataset>/batch=<batch_id>/part-00000.parquet   committed batches
    <root>/<org>/<dataset>/_manifest.json                        their catalog
    <root>/_staging/<org>/<dataset>/<batch_id>/                  batches being loaded
    <root>/_batches/<batch_id>.json                              each batch's record

A reader's glob (``duckdb -c "select count(*) from '<root>/<org>/<dataset>/**/*.parquet'"``)
sees committed batches only: files are staged outside the dataset's folder, and
``complete`` renames the staging folder into the dataset (the commit point), then appends
the batch to the manifest (written to a temporary file, then ``os.replace``). A batch is
complete exactly when its folder exists; the manifest lists, for each, its files, rows and
times. Changes to one dataset are serialized by a lock file (``fcntl.flock``).

``abort`` drops a loading batch's staging folder; on a complete batch it withdraws the
batch (renamed out of the dataset, then dropped), so a job that never committed leaves no
visible batch. Creating the batch of an aborted key again starts clean.

Every path comes from ``LakeLayout``, the one place to change for object storage.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from xdm_connector.destinations.base import (
    BatchState,
    BatchStatus,
    batch_id_for,
    check_name,
    file_rows,
)
from xdm_connector.destinations.lake_storage import TRANSIENT_ERRNOS, fsync
from xdm_connector.domain.file_formats import check_file_format
from xdm_connector.errors import DestinationError


@dataclass(frozen=True)
class LakeLayout:
    """Where each piece of the lake lives under ``root``."""

    root: Path

    def dataset(self, org: str, dataset: str) -> Path:
        return self.root / org / dataset

    def committed(self, org: str, dataset: str, batch_id: str) -> Path:
        return self.dataset(org, dataset) / f"batch={batch_id}"

    def manifest(self, org: str, dataset: str) -> Path:
        return self.dataset(org, dataset) / "_manifest.json"

    def staging(self, org: str, dataset: str, batch_id: str) -> Path:
        return self.root / "_staging" / org / dataset / batch_id

    def lock(self, org: str, dataset: str) -> Path:
        return self.root / "_staging" / org / dataset / "_lock"

    def records(self) -> Path:
        return self.root / "_batches"

    def record(self, batch_id: str) -> Path:
        return self.records() / f"{batch_id}.json"


class LakeDestination:
    """Batches of Parquet or JSON Lines files in a folder tree any Parquet reader can query."""

    def __init__(self, root: Path) -> None:
        self.layout = LakeLayout(Path(root))
        self._known_rows: dict[tuple[str, str], int] = {}
        """The records of the files put by this object's caller, who counted them as it
        wrote them: the manifest takes these rather than read the files again (hundreds
        of megabytes of JSON Lines). Files put by other processes are counted."""
        self._known_rows_lock = threading.Lock()  # batches may complete in several threads

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        check_name(org, "Organization")
        check_name(dataset, "Dataset")
        check_file_format(file_format)
        batch_id = batch_id_for(org, dataset, batch_key)
        with self._locked(org, dataset), _io_errors(batch_id):
            if self.layout.committed(org, dataset, batch_id).is_dir():
                return batch_id
            record = self._record(batch_id)
            if record is None or record["state"] == BatchState.ABORTED:
                record = {
                    "id": batch_id,
                    "org": org,
                    "dataset": dataset,
                    "batchKey": batch_key,
                    "fileFormat": file_format,
                    "state": BatchState.LOADING,
                    "created": _now(),
                }
                write_json(self.layout.record(batch_id), record)
            self.layout.staging(org, dataset, batch_id).mkdir(parents=True, exist_ok=True)
        return batch_id

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        check_name(name, "File name")
        org, dataset = self._owner(batch_id)
        staging = self.layout.staging(org, dataset, batch_id)
        if not staging.is_dir():
            raise DestinationError(
                f"Batch {batch_id} is not loading (complete or aborted)", batch_id=batch_id
            )
        if not Path(path).is_file():
            raise DestinationError(f"No file to put at {path}", batch_id=batch_id)
        with _io_errors(batch_id):
            temporary = staging / f".{name}.{uuid.uuid4().hex}.tmp"
            try:
                # A second name for the same bytes, on one filesystem: nothing is copied.
                # The caller never writes to a file it has put, it only removes it.
                os.link(path, temporary)
            except OSError:
                shutil.copyfile(path, temporary)
            fsync(temporary)
            os.replace(temporary, staging / name)
        with self._known_rows_lock:
            if rows is None:
                self._known_rows.pop((batch_id, name), None)
            else:
                self._known_rows[(batch_id, name)] = rows

    def complete(self, batch_id: str) -> None:
        try:
            self._complete(batch_id)
        finally:
            self._forget(batch_id)

    def _complete(self, batch_id: str) -> None:
        org, dataset = self._owner(batch_id)
        committed = self.layout.committed(org, dataset, batch_id)
        with self._locked(org, dataset), _io_errors(batch_id):
            if committed.is_dir():
                return
            record = self._record(batch_id) or {}
            staging = self.layout.staging(org, dataset, batch_id)
            if record.get("state") == BatchState.ABORTED or not staging.is_dir():
                raise DestinationError(f"Batch {batch_id} was aborted", batch_id=batch_id)
            for leftover in staging.glob(".*.tmp"):
                leftover.unlink()
            committed.parent.mkdir(parents=True, exist_ok=True)
            fsync(staging)
            os.rename(staging, committed)
            fsync(committed.parent)
            paths = sorted(committed.iterdir())
            rows = [self._rows_of(batch_id, path) for path in paths]
            files = [
                {"name": path.name, "rows": count, "bytes": path.stat().st_size}
                for path, count in zip(paths, rows, strict=True)
            ]
            entry = {
                "id": batch_id,
                "batchKey": record.get("batchKey"),
                "fileFormat": record.get("fileFormat"),
                "files": files,
                "rows": sum(count or 0 for count in rows),
                "created": record.get("created"),
                "committed": _now(),
            }
            manifest = self._manifest(org, dataset)
            manifest["batches"] = [b for b in manifest["batches"] if b["id"] != batch_id]
            manifest["batches"].append(entry)
            write_json(self.layout.manifest(org, dataset), manifest)

    def _rows_of(self, batch_id: str, path: Path) -> int | None:
        with self._known_rows_lock:
            known = self._known_rows.get((batch_id, path.name))
        return known if known is not None else file_rows(path)

    def _forget(self, batch_id: str) -> None:
        with self._known_rows_lock:
            for key in [key for key in self._known_rows if key[0] == batch_id]:
                del self._known_rows[key]

    def abort(self, batch_id: str) -> None:
        self._forget(batch_id)
        org, dataset = self._owner(batch_id)
        with self._locked(org, dataset), _io_errors(batch_id):
            staging = self.layout.staging(org, dataset, batch_id)
            committed = self.layout.committed(org, dataset, batch_id)
            if committed.is_dir():
                withdrawn = staging.with_name(f"{batch_id}.withdrawn")
                os.rename(committed, withdrawn)  # invisible from here on
                manifest = self._manifest(org, dataset)
                manifest["batches"] = [b for b in manifest["batches"] if b["id"] != batch_id]
                write_json(self.layout.manifest(org, dataset), manifest)
                shutil.rmtree(withdrawn)
            shutil.rmtree(staging, ignore_errors=True)
            record = self._record(batch_id) or {}
            write_json(self.layout.record(batch_id), {**record, "state": BatchState.ABORTED})

    def status(self, batch_id: str) -> BatchStatus:
        record = self._record(batch_id)
        if record is None:
            return BatchStatus(BatchState.UNKNOWN)
        org, dataset = record["org"], record["dataset"]
        if self.layout.committed(org, dataset, batch_id).is_dir():
            entries = self._manifest(org, dataset)["batches"]
            rows = next((b["rows"] for b in entries if b["id"] == batch_id), None)
            return BatchStatus(BatchState.SUCCESS, records=rows)
        if record["state"] == BatchState.ABORTED:
            return BatchStatus(BatchState.ABORTED)
        if self.layout.staging(org, dataset, batch_id).is_dir():
            return BatchStatus(BatchState.LOADING)
        return BatchStatus(BatchState.UNKNOWN)

    def manifest(self, org: str, dataset: str) -> dict[str, Any]:
        """The dataset's manifest: ``{"org", "dataset", "batches": [...]}``."""
        return self._manifest(check_name(org, "Organization"), check_name(dataset, "Dataset"))

    def committed_files(self, org: str, dataset: str) -> list[Path]:
        """The files of the dataset's committed batches, as its manifest lists them."""
        return [
            self.layout.committed(org, dataset, batch["id"]) / file["name"]
            for batch in self.manifest(org, dataset)["batches"]
            for file in batch["files"]
        ]

    def remove_records(self, org: str, dataset: str, drop: Callable[[bytes], bool]) -> int:
        """Remove from the dataset's committed JSON Lines files every line that ``drop``
        says to (a delete by identity); answers how many. Each file is replaced whole
        (written aside, then renamed over), the manifest's counts with it, under the
        dataset's lock."""
        removed = 0
        with self._locked(check_name(org, "Organization"), check_name(dataset, "Dataset")):
            manifest = self._manifest(org, dataset)
            for batch in manifest["batches"]:
                for file in batch["files"]:
                    path = self.layout.committed(org, dataset, batch["id"]) / file["name"]
                    if path.suffix != ".jsonl":
                        continue
                    lines = path.read_bytes().splitlines(keepends=True)
                    kept = [line for line in lines if not (line.strip() and drop(line))]
                    if len(kept) == len(lines):
                        continue
                    removed += len(lines) - len(kept)
                    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
                    temporary.write_bytes(b"".join(kept))
                    fsync(temporary)
                    os.replace(temporary, path)
                    file["rows"] = sum(1 for line in kept if line.strip())
                    file["bytes"] = path.stat().st_size
                batch["rows"] = sum(file.get("rows") or 0 for file in batch["files"])
            if removed:
                write_json(self.layout.manifest(org, dataset), manifest)
        return removed

    # -- records -------------------------------------------------------------------------------

    def _record(self, batch_id: str) -> dict[str, Any] | None:
        path = self.layout.record(check_name(batch_id, "Batch id"))
        return read_json(path) if path.is_file() else None

    def _owner(self, batch_id: str) -> tuple[str, str]:
        record = self._record(batch_id)
        if record is None:
            raise DestinationError(f"Unknown batch {batch_id}", batch_id=batch_id)
        return record["org"], record["dataset"]

    def _manifest(self, org: str, dataset: str) -> dict[str, Any]:
        path = self.layout.manifest(org, dataset)
        if path.is_file():
            return read_json(path)
        return {"org": org, "dataset": dataset, "batches": []}

    @contextmanager
    def _locked(self, org: str, dataset: str) -> Iterator[None]:
        path = self.layout.lock(org, dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _io_errors(batch_id: str) -> Iterator[None]:
    """File system failures as ``DestinationError``, transient when they may pass."""
    try:
        yield
    except OSError as exc:
        raise DestinationError(
            f"The lake failed on batch {batch_id}: {exc}",
            batch_id=batch_id,
            transient=exc.errno in TRANSIENT_ERRNOS,
        ) from exc


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object written by ``write_json``."""
    document: dict[str, Any] = orjson.loads(path.read_bytes())
    return document


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` so a reader sees the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    fsync(temporary)
    os.replace(temporary, path)
    fsync(path.parent)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
