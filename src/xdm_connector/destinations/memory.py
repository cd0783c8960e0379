"""A destination in memory, for tests of the logic around destinations.

It behaves like the lake (same ids, idempotent ``complete``, a clean restart after
``abort``) and has failure switches::

    destination = InMemoryDestination()
    destination.fail_on("put_file", call=2)                # the 2nd put_file raises
    destination.fail_transiently("complete", times=3)      # 3 transient failures, then fine
    destination.hang("status", timeout=5.0)                # blocks until release() or 5 s
    destination.end_failed([{"code": "INGEST-1212-400", "description": "3 bad records"}])
    destination.processing_for(polls=2)                    # status says PROCESSING twice
    destination.refuse(["id-7", None])                     # a succeeding batch refuses two

``calls`` lists every call as ``(method, argument)``; ``batches`` holds each batch with its
files' bytes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xdm_connector.destinations.base import (
    BatchState,
    BatchStatus,
    batch_id_for,
    check_name,
    file_rows,
)
from xdm_connector.domain.file_formats import check_file_format
from xdm_connector.errors import DestinationError, InvalidInput

METHODS = frozenset({"create_batch", "put_file", "complete", "abort", "status", "refused_keys"})


@dataclass
class MemoryBatch:
    """One batch: its files (name → bytes and rows) and where it stands."""

    id: str
    org: str
    dataset: str
    batch_key: str
    file_format: str
    state: BatchState = BatchState.LOADING
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    rows: dict[str, int | None] = dataclasses.field(default_factory=dict)
    given_rows: dict[str, int | None] = dataclasses.field(default_factory=dict)
    """The records of each file as the caller gave them (``rows`` are counted)."""
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    polls_left: int = 0
    final_state: BatchState = BatchState.SUCCESS

    @property
    def records(self) -> int:
        """The records of all its files."""
        return sum(count or 0 for count in self.rows.values())


@dataclass
class _Failure:
    calls: set[int]
    transient: bool
    message: str


class InMemoryDestination:
    """Batches kept in memory, with switches to fail, fail transiently, hang, or end FAILED."""

    def __init__(self) -> None:
        self.batches: dict[str, MemoryBatch] = {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._failures: dict[str, list[_Failure]] = {}
        self._hangs: dict[str, float] = {}
        self._released = threading.Event()
        self._failed_errors: list[dict[str, Any]] | None = None
        self._processing_polls = 0
        self._refused: list[str | None] = []

    # -- switches ------------------------------------------------------------------------------

    def fail_on(
        self, method: str, call: int = 1, *, transient: bool = False, message: str = ""
    ) -> None:
        """The ``call``-th call of ``method`` (counting from 1, all calls so far included)
        raises ``DestinationError``."""
        self._add_failure(method, {call}, transient, message or f"{method} failed (switch)")

    def refuse(self, record_ids: list[str | None]) -> None:
        """A batch that succeeds refuses these records, as the platform's partial ingestion
        does: its status counts them, ``refused_keys`` names them (``None``: a refused row
        without its ``_id``)."""
        self._refused = list(record_ids)

    def fail_transiently(self, method: str, times: int, *, message: str = "") -> None:
        """The next ``times`` calls of ``method`` raise a transient ``DestinationError``."""
        first = self._counts[self._checked(method)] + 1
        text = message or f"{method} failed for a while (switch)"
        self._add_failure(method, set(range(first, first + times)), True, text)

    def hang(self, method: str, *, timeout: float = 30.0) -> None:
        """Calls of ``method`` block until ``release()``; after ``timeout`` seconds without
        it they raise a transient ``DestinationError``."""
        self._released.clear()
        self._hangs[self._checked(method)] = timeout

    def release(self) -> None:
        """Let the hanging calls (and later ones) go on."""
        self._hangs.clear()
        self._released.set()

    def end_failed(self, errors: list[dict[str, Any]]) -> None:
        """Batches completed from now on end ``FAILED`` with ``errors`` (the destination's
        own, ``{"code": ..., "description": ...}`` each)."""
        self._failed_errors = list(errors)

    def processing_for(self, polls: int) -> None:
        """Batches completed from now on answer ``PROCESSING`` to ``polls`` status calls."""
        self._processing_polls = polls

    # -- the destination -----------------------------------------------------------------------

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        self._enter("create_batch", batch_key)
        batch_id = batch_id_for(
            check_name(org, "Organization"), check_name(dataset, "Dataset"), batch_key
        )
        check_file_format(file_format)
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or batch.state is BatchState.ABORTED:
                self.batches[batch_id] = MemoryBatch(batch_id, org, dataset, batch_key, file_format)
        return batch_id

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        self._enter("put_file", batch_id)
        check_name(name, "File name")
        content, counted = Path(path).read_bytes(), file_rows(Path(path))
        with self._lock:
            batch = self._batch(batch_id)
            if batch.state is not BatchState.LOADING:
                raise DestinationError(
                    f"Batch {batch_id} is not loading ({batch.state})", batch_id=batch_id
                )
            batch.files[name] = content
            batch.rows[name] = counted
            batch.given_rows[name] = rows

    def complete(self, batch_id: str) -> None:
        self._enter("complete", batch_id)
        with self._lock:
            batch = self._batch(batch_id)
            if batch.state is BatchState.ABORTED:
                raise DestinationError(f"Batch {batch_id} was aborted", batch_id=batch_id)
            if batch.state is not BatchState.LOADING:
                return
            batch.polls_left = self._processing_polls
            if self._failed_errors is not None:
                batch.final_state, batch.errors = BatchState.FAILED, list(self._failed_errors)
            batch.state = BatchState.PROCESSING if batch.polls_left else batch.final_state

    def abort(self, batch_id: str) -> None:
        self._enter("abort", batch_id)
        with self._lock:
            batch = self._batch(batch_id)
            batch.state = BatchState.ABORTED
            batch.files.clear()
            batch.rows.clear()

    def status(self, batch_id: str) -> BatchStatus:
        self._enter("status", batch_id)
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return BatchStatus(BatchState.UNKNOWN)
            if batch.state is BatchState.PROCESSING:
                batch.polls_left -= 1
                if batch.polls_left <= 0:
                    batch.state = batch.final_state
                return BatchStatus(BatchState.PROCESSING)
            if batch.state is not BatchState.SUCCESS:
                return BatchStatus(batch.state, errors=list(batch.errors))
            refused = len(self._refused)
            return BatchStatus(
                batch.state, records=batch.records - refused, errors=list(batch.errors),
                refused=refused,
            )  # fmt: skip

    def refused_keys(self, batch_id: str) -> list[str | None]:
        """The ``_id`` of each record a succeeded batch refused (``refuse``)."""
        self._enter("refused_keys", batch_id)
        return list(self._refused)

    # -- inside --------------------------------------------------------------------------------

    def _enter(self, method: str, argument: str) -> None:
        """Count the call, then hang or fail as the switches say."""
        with self._lock:
            self.calls.append((method, argument))
            self._counts[method] += 1
            number = self._counts[method]
            timeout = self._hangs.get(method)
        batch_id = "" if method == "create_batch" else argument
        if timeout is not None and not self._released.wait(timeout):
            raise DestinationError(
                f"{method} hung for {timeout} s (switch)", batch_id=batch_id, transient=True
            )
        for failure in self._failures.get(method, []):
            if number in failure.calls:
                raise DestinationError(
                    failure.message, batch_id=batch_id, transient=failure.transient
                )

    def _add_failure(self, method: str, calls: set[int], transient: bool, message: str) -> None:
        failure = _Failure(calls, transient, message)
        self._failures.setdefault(self._checked(method), []).append(failure)

    def _checked(self, method: str) -> str:
        if method not in METHODS:
            raise InvalidInput(f"No destination method {method!r}: {sorted(METHODS)}")
        return method

    def _batch(self, batch_id: str) -> MemoryBatch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise DestinationError(f"Unknown batch {batch_id}", batch_id=batch_id)
        return batch
