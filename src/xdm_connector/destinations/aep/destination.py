"""The platform destination: Experience Platform's batch ingestion and catalog APIs.

The same client serves Adobe Experience Platform and the product's local platform service
(``xdm-connector platform serve``)::

    destination = PlatformDestination(config, policy=settings.retry_policy())
    batch_id = destination.create_batch(
        org="acme", dataset="profiles", batch_key="acme-XDM44-7-1", file_format="parquet"
    )
    destination.put_file(batch_id, "part-00000.parquet", path)  # PUT, or the large-file protocol
    destination.complete(batch_id)                               # POST ?action=COMPLETE
    destination.status(batch_id)                                 # GET catalog/batches/{id}

Calls go through ``PlatformApi`` (headers, token, errors, retries by the one policy).
Files above ``large_file_bytes`` are sent with ``INITIALIZE``, ranged ``PATCH`` parts and
``COMPLETE``. The platform assigns batch ids: a retried ``create_batch`` whose first
attempt was lost creates a second batch, and the first one, never completed, is left to the
platform to abandon.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from xdm_connector.destinations.aep.answers import PlatformError
from xdm_connector.destinations.aep.client import PlatformApi
from xdm_connector.destinations.aep.hygiene import MAX_IDENTITIES_PER_WORK_ORDER, HygieneApi
from xdm_connector.destinations.aep.ims import ImsTokens
from xdm_connector.destinations.base import (
    BatchState,
    BatchStatus,
    RefusedRecord,
    WorkOrder,
    check_name,
)
from xdm_connector.destinations.config import PlatformConfig
from xdm_connector.domain.file_formats import check_file_format
from xdm_connector.retry import RetryPolicy

T = TypeVar("T")

IMPORT = "/data/foundation/import"
CATALOG = "/data/foundation/catalog"
EXPORT = "/data/foundation/export"
ROW_ERRORS = "row_errors"
"""The ``path`` of a batch's row error files, with ``enableErrorDiagnostics``."""
SUMMARY_ERRORS = frozenset({"INGEST-1212-400", "INGEST-1213-400"})
"""The platform's errors that sum up the others (their records are counted by those)."""
LARGE_FILE_BYTES = 256 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
MAX_ERRORS = 50
MAX_ERROR_FIELDS = 20
MAX_ERROR_TEXT = 2000

PLATFORM_STATES: dict[str, BatchState] = {
    "loading": BatchState.LOADING,
    "loaded": BatchState.PROCESSING,
    "queued": BatchState.PROCESSING,
    "processing": BatchState.PROCESSING,
    "staging": BatchState.PROCESSING,
    "retrying": BatchState.PROCESSING,
    "stalled": BatchState.PROCESSING,
    "success": BatchState.SUCCESS,
    "active": BatchState.SUCCESS,
    "failed": BatchState.FAILED,
    "abandoned": BatchState.FAILED,
    "aborted": BatchState.ABORTED,
    "inactive": BatchState.ABORTED,
    "deleted": BatchState.ABORTED,
}
"""The platform's batch statuses, on the destination seam's states."""


@dataclass(frozen=True)
class Guardrails:
    """The platform's limits on one batch, by default its documented guardrails for the
    batch ingestion API: 1500 files, 100 GB, records of 1 MB."""

    files_per_batch: int = 1500
    batch_bytes: int = 100 * 1024**3
    record_bytes: int = 1024 * 1024


def platform_api(client: httpx.Client, config: PlatformConfig, policy: RetryPolicy) -> PlatformApi:
    """Authenticated calls to the platform ``config`` describes, through ``client``."""
    tokens = ImsTokens(
        client, config.ims_url, config.client_id, config.resolve_secret, policy, scope=config.scope
    )
    return PlatformApi(
        client,
        config.platform_url,
        api_key=config.client_id,
        ims_org_id=config.ims_org_id,
        sandbox=config.sandbox,
        tokens=tokens,
        policy=policy,
    )


class PlatformDestination:
    """Batches delivered to a platform through its batch ingestion protocol."""

    def __init__(
        self,
        config: PlatformConfig,
        *,
        policy: RetryPolicy,
        timeout: float = 60.0,
        large_file_bytes: int = LARGE_FILE_BYTES,
        part_bytes: int = LARGE_FILE_BYTES,
        limits: Guardrails | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.large_file_bytes = large_file_bytes
        self.part_bytes = part_bytes
        self.limits = limits or Guardrails()
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self.api = platform_api(self._client, config, policy)
        self.hygiene = HygieneApi(self.api)
        self.max_identities = MAX_IDENTITIES_PER_WORK_ORDER
        self._datasets: dict[str, str] = {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        check_file_format(file_format)
        dataset_id = self.config.platform_dataset(dataset)
        input_format: dict[str, object] = {"format": "parquet"}
        if file_format == "jsonl":
            input_format = {"format": "json", "isMultiLineJson": False}
        percentage = self.config.partial_ingestion_percentage
        body = {
            "datasetId": dataset_id,
            "inputFormat": input_format,
            "enableErrorDiagnostics": True,
            "partialIngestionPercentage": int(percentage)
            if percentage.is_integer()
            else percentage,
        }
        try:
            response = self.api.call("POST", f"{IMPORT}/batches", json=body)
        except PlatformError as exc:
            if exc.status_code in (400, 404) and "dataset" in exc.message.lower():
                raise PlatformError(
                    f"the platform has no dataset {dataset_id} (for the dataset {dataset!r}) "
                    f"in sandbox {self.config.sandbox}: {exc.message}",
                    status_code=exc.status_code,
                    error_code=exc.error_code,
                ) from exc
            raise
        batch_id = _field(response, "id")
        self._datasets[batch_id] = dataset_id
        return batch_id

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        check_name(name, "File name")
        url = self._file_url(batch_id, name)
        size = Path(path).stat().st_size
        if size > self.large_file_bytes:
            self._put_large(batch_id, url, Path(path), size)
            return
        self.api.call(
            "PUT",
            url,
            batch_id=batch_id,
            headers=_octets(size),
            content=functools.partial(_chunks, Path(path), 0, size),
        )

    def complete(self, batch_id: str) -> None:
        self._signal(batch_id, "COMPLETE")

    def breach(self, files: list[Path]) -> str:
        """Why a batch of ``files`` would cross the platform's guardrails (``limits``):
        too many files, too many bytes, or a JSON Lines record too large; ``""`` if none.
        A file above ``large_file_bytes`` is no breach: it is sent in parts."""
        limits = self.limits
        if len(files) > limits.files_per_batch:
            return (
                f"the job would send {len(files)} files in one batch, more than the "
                f"platform's {limits.files_per_batch} files per batch "
                "(XDMC_PLATFORM_MAX_FILES_PER_BATCH); write larger files (XDMC_MAX_FILE_BYTES)"
            )
        size = sum(path.stat().st_size for path in files)
        if size > limits.batch_bytes:
            return (
                f"the job would send {size} bytes in one batch, more than the platform's "
                f"{limits.batch_bytes} bytes per batch (XDMC_PLATFORM_MAX_BATCH_BYTES)"
            )
        for path in files:
            longest = longest_line(path) if path.suffix == ".jsonl" else 0
            if longest > limits.record_bytes:
                return (
                    f"{path.name} holds a record of {longest} bytes, more than the "
                    f"platform's {limits.record_bytes} bytes per record "
                    "(XDMC_PLATFORM_MAX_RECORD_BYTES)"
                )
        return ""

    def abort(self, batch_id: str) -> None:
        self._signal(batch_id, "ABORT")

    def status(self, batch_id: str) -> BatchStatus:
        try:
            batch = self._catalog_batch(batch_id)
        except PlatformError as exc:
            if exc.status_code == 404:
                return BatchStatus(BatchState.UNKNOWN)
            raise
        state = PLATFORM_STATES.get(str(batch.get("status", "")).lower(), BatchState.UNKNOWN)
        metrics = batch.get("metrics") or {}
        records = metrics.get("outputRecordCount") if state is BatchState.SUCCESS else None
        errors = batch_errors(batch.get("errors"))
        return BatchStatus(
            state, records=records, errors=errors, refused=refused_count(errors, metrics)
        )

    def refused_records(self, batch_id: str, limit: int) -> list[RefusedRecord]:
        """The batch's refused records from its error diagnostics: the row error files the
        platform lists at ``meta?path=row_errors``, read in order, one ``RefusedRecord`` per
        error of a row, up to ``limit``; none when the platform kept no diagnostics."""
        found: list[RefusedRecord] = []
        for name in self._row_error_files(batch_id):
            if len(found) >= limit:
                break
            for refusals in self._row_errors(batch_id, name, row_refusals, limit - len(found)):
                found.extend(refusals)
        return found[:limit]

    def refused_keys(self, batch_id: str) -> list[str | None]:
        """The ``_id`` of every record the batch refused, one entry per row of its row error
        files (``None`` for a row without one, a corrupt row); empty when the platform kept
        no diagnostics. Only the keys are kept of the rows, read as they come."""
        keys: list[str | None] = []
        for name in self._row_error_files(batch_id):
            keys.extend(self._row_errors(batch_id, name, refused_id))
        return keys

    def order_deletes(
        self, *, dataset: str, namespace: str, ids: Sequence[str], name: str
    ) -> WorkOrder:
        """A record delete work order of the Data Hygiene API (``aep/hygiene.py``)."""
        return self.hygiene.create(
            dataset_id=self.config.platform_dataset(dataset),
            namespace=namespace,
            ids=ids,
            name=name,
            description=f"Records deleted at the source of the dataset {dataset!r}",
        )

    def deletes_named(self, name: str) -> list[WorkOrder]:
        return self.hygiene.named(name)

    def deletes_status(self, work_order_id: str) -> WorkOrder:
        return self.hygiene.status(work_order_id)

    # -- inside --------------------------------------------------------------------------------

    def _row_error_files(self, batch_id: str) -> list[str]:
        """The names of the batch's row error files (``meta?path=row_errors``); none when
        the platform kept no diagnostics."""
        check_name(batch_id, "Batch id")
        meta = f"{EXPORT}/batches/{batch_id}/meta"
        try:
            listing = self.api.call("GET", meta, batch_id=batch_id, params={"path": ROW_ERRORS})
            document = listing.json()
        except PlatformError as exc:
            if exc.status_code == 404:
                return []
            raise
        except ValueError:
            return []
        entries = document.get("data") if isinstance(document, dict) else None
        return [
            entry["name"]
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        ]

    def _row_errors(
        self, batch_id: str, name: str, keep: Callable[[bytes], T], limit: int | None = None
    ) -> list[T]:
        """What ``keep`` makes of each of the first ``limit`` (``None``: every) rows of the
        batch's row error file ``name``."""
        return self.api.lines(
            f"{EXPORT}/batches/{batch_id}/meta",
            keep,
            limit=limit,
            batch_id=batch_id,
            params={"path": f"{ROW_ERRORS}/{name}"},
        )

    def _signal(self, batch_id: str, action: str) -> None:
        check_name(batch_id, "Batch id")
        self.api.call(
            "POST", f"{IMPORT}/batches/{batch_id}", batch_id=batch_id, params={"action": action}
        )

    def _put_large(self, batch_id: str, url: str, path: Path, size: int) -> None:
        """INITIALIZE, one ranged PATCH per part, COMPLETE (each call retried alone)."""
        self.api.call("POST", url, batch_id=batch_id, params={"action": "INITIALIZE"})
        for start in range(0, size, self.part_bytes):
            end = min(start + self.part_bytes, size)
            headers = {**_octets(end - start), "Content-Range": f"bytes {start}-{end - 1}/{size}"}
            self.api.call(
                "PATCH",
                url,
                batch_id=batch_id,
                headers=headers,
                content=functools.partial(_chunks, path, start, end),
            )
        self.api.call("POST", url, batch_id=batch_id, params={"action": "COMPLETE"})

    def _file_url(self, batch_id: str, name: str) -> str:
        check_name(batch_id, "Batch id")
        dataset_id = self._datasets.get(batch_id)
        if dataset_id is None:
            related = self._catalog_batch(batch_id).get("relatedObjects") or []
            found = [
                o.get("id") for o in related if isinstance(o, dict) and o.get("type") == "dataSet"
            ]
            if not found or not isinstance(found[0], str):
                raise PlatformError(f"batch {batch_id} names no dataset", batch_id=batch_id)
            dataset_id = self._datasets[batch_id] = found[0]
        return (
            f"{IMPORT}/batches/{batch_id}/datasets/{quote(dataset_id, safe='')}/files/{quote(name)}"
        )

    def _catalog_batch(self, batch_id: str) -> dict[str, Any]:
        check_name(batch_id, "Batch id")
        document = self.api.call("GET", f"{CATALOG}/batches/{batch_id}", batch_id=batch_id).json()
        batch = document.get(batch_id) if isinstance(document, dict) else None
        if not isinstance(batch, dict):
            raise PlatformError(f"the catalog answered no batch {batch_id}", batch_id=batch_id)
        return batch


def batch_errors(answered: Any) -> list[dict[str, Any]]:
    """The catalog's ``errors`` of a batch, kept as answered but bounded: at most
    ``MAX_ERRORS`` objects, their plain values only (``code``, ``description``,
    ``recordCount``, ...), long texts cut. A ``message`` stands for a missing
    ``description``."""
    if not isinstance(answered, list):
        return []
    kept: list[dict[str, Any]] = []
    for error in answered[:MAX_ERRORS]:
        if not isinstance(error, dict):
            continue
        entry: dict[str, Any] = {}
        for key, value in list(error.items())[:MAX_ERROR_FIELDS]:
            if isinstance(value, str):
                entry[str(key)] = value[:MAX_ERROR_TEXT]
            elif value is None or isinstance(value, bool | int | float):
                entry[str(key)] = value
        if "description" not in entry and isinstance(entry.get("message"), str):
            entry["description"] = entry["message"]
        if entry:
            kept.append(entry)
    return kept


def refused_count(errors: list[dict[str, Any]], metrics: dict[str, Any]) -> int:
    """The records a batch refused: the sum of its errors' ``recordCount`` (each refused
    record is counted once, under its kind), else its ``failedRecordCount`` metric."""
    counted = [
        count
        for error in errors
        if error.get("code") not in SUMMARY_ERRORS
        and (count := _count(error.get("recordCount"))) is not None
    ]
    if counted:
        return sum(counted)
    return _count(metrics.get("failedRecordCount")) or 0


def _count(value: Any) -> int | None:
    """A count the platform answered: an integer, not negative; ``None`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


MAX_REFUSED_VALUE = 200
"""How much of a refused value (its ``repr``) a sample keeps."""


def row_refusals(line: bytes) -> list[RefusedRecord]:
    """The refusals of one line of a row error file: the record with its ``_errors``
    (``[{"column": "/person/gender", "code": "1560", "message": "..."}]``), or a corrupt
    row's ``_corrupt_record`` text; nothing for a line that is neither."""
    try:
        row = json.loads(line)
    except ValueError:
        return []
    if not isinstance(row, dict):
        return []
    errors = row.get("_errors")
    refusals = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        column = error.get("column")
        path = column if isinstance(column, str) else ""
        if "_corrupt_record" in row:
            value = row["_corrupt_record"]
        else:
            value = _at(row, path) if path else None
        code = str(error.get("code") or "")
        message = str(error.get("message") or error.get("description") or "")[:MAX_ERROR_TEXT]
        refusals.append(
            RefusedRecord(
                key=_record_key(row),
                path=path,
                value=repr(value)[:MAX_REFUSED_VALUE],
                reason=message,
                code=code,
            )
        )
    return refusals


def refused_id(line: bytes) -> str | None:
    """The ``_id`` of the record of one line of a row error file, as a string; ``None`` for
    a line without one (a corrupt row, or not JSON)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    key = row.get("_id") if isinstance(row, dict) else None
    if isinstance(key, str | int) and not isinstance(key, bool):
        return str(key)
    return None


def _record_key(row: dict[str, Any]) -> Any:
    """A refused record's ``_id``, else the id of its primary identity (``identityMap``)."""
    key = row.get("_id")
    if isinstance(key, str | int) and not isinstance(key, bool):
        return key
    identities = row.get("identityMap")
    if not isinstance(identities, dict):
        return None
    first = None
    for entries in identities.values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            if entry.get("primary") is True:
                return entry["id"]
            first = first if first is not None else entry["id"]
    return first


def _at(row: Any, path: str) -> Any:
    """The value at an XED slash path (``/person/gender``, ``/emails/0/address``)."""
    node = row
    for step in (part for part in path.split("/") if part):
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


def _field(response: httpx.Response, name: str) -> str:
    try:
        value = response.json()[name]
    except (ValueError, KeyError, TypeError) as exc:
        raise PlatformError(f"the platform answered without {name!r}") from exc
    if not isinstance(value, str) or not value:
        raise PlatformError(f"the platform answered an empty {name!r}")
    return value


def longest_line(path: Path) -> int:
    """The length of the longest line of a file, its newline left out, read a megabyte at a
    time (a line may be longer than a megabyte)."""
    longest = current = 0
    with path.open("rb") as file:
        while chunk := file.read(READ_CHUNK_BYTES):
            pieces = chunk.split(b"\n")
            current += len(pieces[0])
            for piece in pieces[1:]:
                longest = max(longest, current)
                current = len(piece)
    return max(longest, current)


def _octets(length: int) -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Content-Length": str(length)}


def _chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The bytes ``[start, end)`` of a file, read a megabyte at a time."""
    with path.open("rb") as file:
        file.seek(start)
        left = end - start
        while left > 0:
            chunk = file.read(min(READ_CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
