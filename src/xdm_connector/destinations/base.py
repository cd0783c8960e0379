"""The destination seam: where a job's batch files go, and how a batch becomes visible.

A batch goes ``create_batch`` → ``put_file``\\* → ``complete`` (or ``abort``), then its
``status`` is followed until ``SUCCESS`` or ``FAILED``::

    batch_id = destination.create_batch(
        org="acme", dataset="profiles", batch_key="job-42", file_format="parquet"
    )
    for written in files:
        destination.put_file(batch_id, written.name, written.path)
    destination.complete(batch_id)
    destination.status(batch_id)  # BatchStatus(state=BatchState.SUCCESS, records=1000)

The batch id is derived from the batch key, so a retried attempt with the same key finds
its batch again: still loading (its files are replaced by name), or already complete.
Failures raise ``DestinationError``; ``transient`` ones may succeed when tried again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xdm_connector.errors import InvalidInput

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@=-]{0,199}")


class BatchState(StrEnum):
    """Where a batch stands, in the platform's words."""

    LOADING = "loading"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BatchStatus:
    """A batch's state, its record count once known, and the destination's errors.

    ``errors`` are kept as the destination answers them, one object each::

        [{"code": "INGEST-1212-400",
          "description": "Encountered 5 errors in the data. Successfully ingested 514 rows.",
          "recordCount": 5}]
    """

    state: BatchState
    records: int | None = None
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    version: int | None = None
    """The destination's version that made the batch visible (the lake's Delta table
    version of its commit), when it has one."""
    deletes: int | None = None
    """The deletes the batch applied, once known (the lake's)."""
    refused: int = 0
    """The records the destination refused (the platform's validation), once final."""

    @property
    def error_text(self) -> str:
        """The errors in one line: ``INGEST-1212-400 Encountered 5 errors ...; ...``."""
        return describe_errors(self.errors)


def describe_errors(errors: Iterable[object]) -> str:
    """Destination errors in one line, each as its code and description."""
    parts = []
    for error in errors:
        if isinstance(error, dict):
            words = (error.get("code"), error.get("description") or error.get("message"))
            parts.append(" ".join(str(word) for word in words if word))
        else:
            parts.append(str(error))
    return "; ".join(part for part in parts if part)


@dataclass(frozen=True)
class RefusedRecord:
    """One record a destination refused, as its diagnostics tell: the record's key (its
    ``_id``, else its primary identity; ``None`` when it has neither), the XED path of the
    refused value (``/person/gender``; ``""`` for a record that could not be read), the
    value (``repr``), and the destination's reason with its code."""

    key: Any
    path: str
    value: str
    reason: str
    code: str = ""


@runtime_checkable
class RefusalReader(Protocol):
    """A destination that keeps the records it refused, and reads them back."""

    def refused_records(self, batch_id: str, limit: int) -> list[RefusedRecord]:
        """Up to ``limit`` records the destination refused in the batch, first first."""
        ...


@runtime_checkable
class BatchGuardrails(Protocol):
    """A destination with limits on what one batch holds (the platform's guardrails)."""

    def breach(self, files: list[Path]) -> str:
        """Why a batch of ``files`` would cross the destination's limits, in words; ``""``
        when it would not. Read before anything is sent."""
        ...


@dataclass(frozen=True)
class WorkOrder:
    """A destination's order to delete records by identity (the platform's Data Hygiene
    work order): its id, its status, its name, and why it failed (``""`` unless it did)."""

    id: str
    status: str
    display_name: str = ""
    reason: str = ""

    @property
    def ended(self) -> bool:
        """Whether the work order no longer changes (completed or failed)."""
        return self.status in ("completed", "failed")

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@runtime_checkable
class IdentityDeletes(Protocol):
    """A destination that deletes records by their primary identity (the platform), by
    work orders it follows, rather than by files of keys in a batch (the lake)."""

    max_identities: int
    """The most identities one work order takes."""

    def order_deletes(
        self, *, dataset: str, namespace: str, ids: Sequence[str], name: str
    ) -> WorkOrder:
        """A new work order deleting the dataset's records of ``ids`` in ``namespace``."""
        ...

    def deletes_named(self, name: str) -> list[WorkOrder]:
        """The work orders already created under ``name``."""
        ...

    def deletes_status(self, work_order_id: str) -> WorkOrder:
        """The work order as it stands."""
        ...


class Destination(Protocol):
    """A place that takes batches of files and makes each visible only when complete."""

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        """Create (or find again) the batch of ``batch_key``; answers its id."""
        ...

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        """Add the file at ``path`` to the batch as ``name``, replacing a file of that name.

        The destination may keep ``path`` itself (a hard link): the caller may remove the
        file afterwards, never change it. ``rows``: the records the file holds, when the
        caller wrote it and knows them (the lake then does not count them again)."""
        ...

    def complete(self, batch_id: str) -> None:
        """Make the batch visible with all its files; a no-op on a complete batch."""
        ...

    def abort(self, batch_id: str) -> None:
        """Drop the batch and its files; it never becomes (or stays) visible."""
        ...

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state; ``UNKNOWN`` for an id the destination never gave."""
        ...


def batch_id_for(org: str, dataset: str, batch_key: str) -> str:
    """The id of the batch of ``batch_key`` in a dataset: 32 hex digits, always the same."""
    digest = hashlib.sha256("\0".join((org, dataset, batch_key)).encode()).hexdigest()
    return digest[:32]


def check_name(name: str, what: str) -> str:
    """``name`` if it is safe as one path segment (``acme``, ``part-00000.parquet``).

    Refuses separators, ``..``, and a leading ``_`` or ``.`` (kept for the destination's
    own folders and temporary files).
    """
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"{what} {name!r} must start with a letter or digit and hold only letters, "
            "digits and . _ - @ = (no '..', at most 200 characters)"
        )
    return name


def file_rows(path: Path) -> int | None:
    """The number of records of a batch file (Parquet footer, JSON Lines lines)."""
    if path.suffix == ".parquet":
        return int(pq.read_metadata(path).num_rows)
    if path.suffix == ".jsonl":
        return _json_lines(path)
    return None


_CHUNK_BYTES = 1 << 20
_MAYBE_BLANK = r"\n[\n\r \t\x0b\x0c]"
"""A line that may be blank: starting with white space (or empty)."""


def _json_lines(path: Path) -> int:
    """The non-blank lines of a file, counted by newlines a chunk at a time (a file the
    product wrote has no blank line); line by line when a line may be blank.

    A chunk is searched by Arrow's regular expressions, several times faster than
    Python's ``bytes.count`` and ``re`` on hundreds of megabytes."""
    lines, previous = 0, b"\n"  # as if a line had just ended
    chunk = bytearray(_CHUNK_BYTES)
    with path.open("rb", buffering=0) as stream:
        while size := stream.readinto(chunk):
            text = _one_value(pa.py_buffer(chunk), size)
            if previous + chunk[:1] in _BLANK_STARTS or _count(text, _MAYBE_BLANK):
                return _non_blank_lines(path)
            lines += _count(text, "\n")
            previous = bytes(chunk[size - 1 : size])
    return lines + (previous != b"\n")


_BLANK_STARTS = {b"\n" + bytes([blank]) for blank in b"\n\r \t\x0b\x0c"}


def _one_value(buffer: pa.Buffer, size: int) -> pa.Array:
    """The first ``size`` bytes of ``buffer`` as one binary value (no copy)."""
    offsets = pa.array([0, size], pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, buffer])


def _count(text: pa.Array, pattern: str) -> int:
    return int(pc.count_substring_regex(text, pattern)[0].as_py())


def _non_blank_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for line in stream if line.strip())
