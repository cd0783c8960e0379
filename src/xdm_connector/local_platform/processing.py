"""What the local platform service does with a completed batch, in the background.

Every record of every file is read as the platform reads the batch's ``inputFormat``
(``_records``: Parquet with nested columns; JSON Lines, a line holding an array giving one
record per element; with ``isMultiLineJson``, one JSON document per file, an object or an
array of them), converted as the platform converts values (``conversion``) and validated
against the dataset's XDM schema (``RecordValidator``). Refused records are kept with why
(``diagnostics``): in the batch's ``failed.jsonl``, each as ``{"_errors": [{"code":
"1401-400", "message": "/person/gender: not one of ..."}], "_file": "part-00000.parquet",
"_line": 7, "record": {...}}``, and in its row error files when the batch asked for
``enableErrorDiagnostics``.

Then the partial-ingestion rule: when the refused records are at most
``partialIngestionPercentage`` percent of the batch (0 when the batch did not ask for
error diagnostics), the batch ends ``success`` and its accepted records are committed to
the sandbox's lake; otherwise it ends ``failed`` and nothing is committed. Errors::

    INGEST-1212-400  Encountered N errors in the data. Successfully ingested M rows. ...
      then one per kind of refusal, with its recordCount (diagnostics.py)
    INGEST-1211-400  Encountered errors ... (refusals in a batch without diagnostics)
    INGEST-1213-400  N of T rows (P%) failed validation: more than the threshold of X%.
    INGEST-1201-400  The batch has no files.
    INGEST-1202-400  A file could not be read as the batch's format.
    INGEST-1500-500  The service failed while processing the batch.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from xdm_connector.local_platform.conversion import convert
from xdm_connector.local_platform.datasets import dataset_xed_schema
from xdm_connector.local_platform.diagnostics import (
    ROW_ERRORS,
    Diagnostics,
    Refusal,
    catalog_errors,
)
from xdm_connector.local_platform.faults import Fault, Faults, tamper
from xdm_connector.local_platform.storage import PlatformStorage, now_ms
from xdm_connector.pipeline.files import json_lines
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.validation import RecordValidator

log = logging.getLogger(__name__)

_Record = tuple[int, Any]


class BatchProcessor:
    """Validates and commits completed batches, one thread per batch (two at a time)."""

    def __init__(
        self, storage: PlatformStorage, registry: SchemaRegistry, faults: Faults | None = None
    ) -> None:
        self.storage = storage
        self.registry = registry
        self.faults = faults
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="platform-batch")
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._guard = threading.Lock()

    def submit(self, batch_id: str) -> None:
        """Process the batch in the background."""
        with self._guard:
            self._queued.add(batch_id)
        self._executor.submit(self._process_logged, batch_id)

    def processing(self) -> list[str]:
        """The batches being processed now (``close`` waits for them)."""
        with self._guard:
            return sorted(self._processing)

    def queued(self) -> list[str]:
        """The batches waiting for a thread (``close`` leaves them to the next start)."""
        with self._guard:
            return sorted(self._queued)

    def resume(self) -> None:
        """Process again the batches left ``processing`` by a stopped service."""
        for batch in self.storage.batches():
            if batch["status"] == "processing":
                self.submit(batch["id"])

    def close(self) -> None:
        """Let running batches finish; drop the queued ones (``resume`` picks them up)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _process_logged(self, batch_id: str) -> None:
        with self._guard:
            self._queued.discard(batch_id)
            self._processing.add(batch_id)
        try:
            self.process(batch_id)
        except Exception:
            log.exception("batch %s failed to process", batch_id)
            with self.storage.lock(batch_id):
                batch = self.storage.batch_of(batch_id)
                if batch["status"] != "processing":  # aborted meanwhile
                    return
                batch.update(status="failed", completed=now_ms())
                batch["errors"] = [_error("INGEST-1500-500", "The service failed on this batch.")]
                self.storage.save_batch(batch)
        finally:
            with self._guard:
                self._processing.discard(batch_id)

    def process(self, batch_id: str) -> None:
        """Validate a ``processing`` batch and end it ``success`` or ``failed``."""
        batch = self.storage.batch_of(batch_id)
        if batch["status"] != "processing":
            return
        org, sandbox, dataset = batch["imsOrg"], batch["sandbox"], batch["datasetId"]
        schema = dataset_xed_schema(self.storage, self.registry, org, sandbox, dataset)
        validator = RecordValidator(schema)
        folder = self.storage.batch_folder(batch_id)
        files = sorted(p for p in (folder / "files").rglob("*") if p.is_file())
        accepted = folder / "accepted"
        shutil.rmtree(accepted, ignore_errors=True)
        shutil.rmtree(folder / ROW_ERRORS, ignore_errors=True)
        accepted.mkdir(parents=True)
        fault = self.faults.take("tamper") if self.faults else None
        input_format: dict[str, Any] = batch["inputFormat"]
        file_format = input_format["format"]
        diagnosed = bool(batch.get("enableErrorDiagnostics"))
        ok = 0
        errors: list[dict[str, Any]] = []
        with Diagnostics(folder, row_errors=diagnosed) as diagnostics:
            for index, path in enumerate(files):
                name = path.relative_to(folder / "files").as_posix()
                with (accepted / f"part-{index:05d}.jsonl").open("wb") as out:
                    seen = ok + diagnostics.counts.total()
                    try:
                        for line, record in _tampered(_records(path, input_format), fault, seen):
                            refusal = _check(validator, record, out)
                            if refusal is None:
                                ok += 1
                            else:
                                diagnostics.refuse(record, refusal, name, line)
                    except (OSError, ValueError, pa.ArrowException) as exc:
                        reason = f"{name} is not readable as {file_format}"
                        errors.append(_error("INGEST-1202-400", f"{reason}: {type(exc).__name__}"))
        failed = diagnostics.counts.total()
        total = ok + failed
        threshold = float(batch.get("partialIngestionPercentage") or 0)
        if not files:
            errors.append(_error("INGEST-1201-400", "The batch has no files."))
        over = total > 0 and failed * 100 > threshold * total
        status = "failed" if errors or over else "success"
        refusals = catalog_errors(
            diagnostics.counts, ok if status == "success" else 0, diagnostics=diagnosed
        )
        errors.extend(refusals)
        if over and diagnosed:
            share = failed * 100 / total
            message = (
                f"{failed} of {total} rows ({share:.2f}%) failed validation: "
                f"more than the partial ingestion threshold of {threshold:g}%."
            )
            errors.append(_error("INGEST-1213-400", message))
        with self.storage.lock(batch_id):
            batch = self.storage.batch_of(batch_id)
            if batch["status"] != "processing":  # aborted meanwhile
                return
            if status == "success" and ok:
                batch["lakeBatchId"] = self._commit(batch, accepted)
            shutil.rmtree(accepted, ignore_errors=True)
            batch.update(status=status, errors=errors, completed=now_ms())
            batch["metrics"] = {
                "inputFileCount": len(files),
                "inputByteSize": sum(p.stat().st_size for p in files),
                "inputRecordCount": total,
                "outputRecordCount": ok if status == "success" else 0,
                "failedRecordCount": failed,
            }
            self.storage.save_batch(batch)

    def _commit(self, batch: dict[str, Any], accepted: Path) -> str:
        lake = self.storage.lake(batch["sandbox"])
        lake_id = lake.create_batch(
            org=batch["imsOrg"],
            dataset=batch["datasetId"],
            batch_key=batch["id"],
            file_format="jsonl",
        )
        for part in sorted(accepted.iterdir()):
            if part.stat().st_size:
                lake.put_file(lake_id, part.name, part)
        lake.complete(lake_id)
        return lake_id


def _check(validator: RecordValidator, record: Any, out: IO[bytes]) -> Refusal | None:
    """Write the record to ``out`` if it is valid once converted, else say why not."""
    if isinstance(record, Unreadable):
        return Refusal.corrupt()
    if not isinstance(record, dict):
        return Refusal("parsing", (("/", "a record must be a JSON object"),))
    converted = convert(record, validator.schema.root)
    problems = [(error.path, error.reason) for error in validator.errors(converted)]
    if problems:
        return Refusal.invalid(problems)
    out.write(orjson.dumps(converted) + b"\n")
    return None


class Unreadable(str):
    """The text of a row that is not JSON (cut to ``CORRUPT_TEXT_CHARS``)."""

    __slots__ = ()


CORRUPT_TEXT_CHARS = 10_000
"""How much of an unreadable row the diagnostics keep."""


def _unreadable(text: bytes) -> Unreadable:
    return Unreadable(text[:CORRUPT_TEXT_CHARS].decode("utf-8", "replace").rstrip("\r\n"))


def _records(path: Path, input_format: dict[str, Any]) -> Iterator[_Record]:
    """The records of a file with where they are, from 1: the row (Parquet), the line
    (JSON Lines) or the element of the document (multi-line JSON).

    As the platform reads JSON: a line (or a multi-line document) holding an array gives
    one record per element; a line that is not JSON is one ``Unreadable`` record, and so is
    a multi-line file that is not one JSON document.
    """
    if input_format["format"] == "parquet":
        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for line in json_lines(batch).splitlines():
                number += 1
                yield number, orjson.loads(line)
        return
    if input_format.get("isMultiLineJson"):
        # One document per file: read whole (a file is bounded by XDMC_PLATFORM_MAX_FILE_BYTES).
        content = path.read_bytes()
        if not content.strip():
            return
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            yield 1, _unreadable(content)
            return
        elements = document if isinstance(document, list) else [document]
        yield from enumerate(elements, start=1)
        return
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, _unreadable(line)
                continue
            for element in value if isinstance(value, list) else [value]:
                yield number, element


def _tampered(records: Iterator[_Record], fault: Fault | None, before: int) -> Iterator[_Record]:
    """The records, with the tamper fault applied to every ``every``-th of the batch."""
    for seen, (line, record) in enumerate(records, start=before):
        if fault is not None and isinstance(record, dict) and seen % fault.every == 0:
            tamper(record, fault.field, fault.value)
        yield line, record


def _error(code: str, description: str, *, records: int | None = None) -> dict[str, Any]:
    """A batch error as the catalog lists it; ``recordCount``: the records it concerns."""
    error: dict[str, Any] = {"code": code, "description": description}
    if records is not None:
        error["recordCount"] = records
    return error
