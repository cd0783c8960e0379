"""Record batches as the source readers hand them over: bounded, typed, and read ahead.

``rows_per_batch(schema, batch_rows)`` bounds a batch to about ``BATCH_BYTES`` of memory.
``conform(batch, schema)`` casts the columns a driver gave into the expected schema (text
dates and date-times parsed, integers widened...). ``prefetched(batches)`` reads the next
batch in a thread while the caller works on the current one: the driver's fetch (SQLite's
own loop, PostgreSQL's wire protocol) runs in C without the GIL, so reading the source and
shaping, validating and writing overlap on two cores, and at most ``depth + 2`` batches are
in memory at once. ``streamed_batches(connect, statement, schema, batch_rows)`` reads a
SQLAlchemy statement with a server-side cursor, for the readers without an Arrow driver.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from xdm_connector.errors import SOURCE_FAILED_MESSAGE, SourceError

T = TypeVar("T")
BATCH_BYTES = 8 * 1024 * 1024
"""About how much Arrow memory one batch of a source may take."""
_POLL_SECONDS = 0.05
_TEXT_BYTES = 32  # a guess for a text value, offsets included


def rows_per_batch(schema: pa.Schema, batch_rows: int, batch_bytes: int = BATCH_BYTES) -> int:
    """``batch_rows``, or fewer for wide rows: the rows of about ``batch_bytes`` of Arrow
    memory, estimated from the column types (text counted as 32 bytes a value).

    Drivers build a batch in growing buffers, so a batch costs a few times its final
    size while it is read: this bound keeps a worker's memory flat with wide rows too.
    """
    row_bytes = 0
    for field in schema:
        width = field.type.bit_width if pa.types.is_primitive(field.type) else 0
        row_bytes += max(1, width // 8) if width else _TEXT_BYTES
    return max(1, min(batch_rows, batch_bytes // max(1, row_bytes)))


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch's columns of ``schema``, each cast to its expected type."""
    arrays = [cast_column(batch.column(field.name), field) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def cast_column(array: pa.Array, field: pa.Field) -> pa.Array:
    """``array`` as the field's type; a value that does not convert is a ``SourceError``."""
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    target = field.type
    if array.type == target:
        return array
    textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    try:
        if textual and pa.types.is_date32(target):
            return pc.cast(pc.utf8_slice_codeunits(array, 0, 10), target)
        if textual and pa.types.is_timestamp(target):
            return _parse_timestamps(array, target)
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise column_error(field) from exc


def _parse_timestamps(array: pa.Array, target: pa.TimestampType) -> pa.Array:
    """ISO-8601 text as timestamps; a zone-less text read into a zoned type is UTC."""
    try:
        return pc.cast(array, target)
    except pa.ArrowInvalid:
        other = pa.timestamp(target.unit, tz=None if target.tz else "UTC")
        return pc.cast(pc.cast(array, other), target)


def python_array(values: Sequence[object], field: pa.Field) -> pa.Array:
    """Python values of a column as an Arrow array of the field's type."""
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    try:
        inferred = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise column_error(field) from exc
    return cast_column(inferred, field)


def streamed_batches(
    connect: Callable[[], AbstractContextManager[sa.Connection]],
    statement: sa.Executable,
    schema: pa.Schema,
    batch_rows: int,
) -> Generator[pa.RecordBatch, None, None]:
    """The rows of ``statement`` as batches of ``schema``, ``batch_rows`` at a time, read
    with a server-side cursor on a connection of ``connect`` (held until the last one)."""
    with connect() as conn:
        streaming = conn.execution_options(stream_results=True, yield_per=batch_rows)
        with closing(streaming.execute(statement)) as result:
            for rows in result.partitions(batch_rows):
                columns = list(zip(*rows, strict=True))
                arrays = [
                    python_array(list(values), field)
                    for values, field in zip(columns, schema, strict=True)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def column_error(field: pa.Field) -> SourceError:
    """The error of a column holding a value that cannot be read as its type."""
    return SourceError(
        f"{SOURCE_FAILED_MESSAGE} Column {field.name!r} holds a value that cannot be read "
        f"as {field.type}."
    )


def rechunked(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` (one schema) in batches of ``rows`` rows, the last one
    shorter; a batch is sliced without a copy, only batches straddling two are joined."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            taken = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, taken))
            count += taken
            batch = batch.slice(taken)
            if count == rows:
                yield _joined(pending)
                pending, count = [], 0
    if count:
        yield _joined(pending)


def _joined(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def read_threads() -> int:
    """How many ranges of its first table a first export reads side by side: one per core
    this process may run on, two at most."""
    return min(2, len(os.sched_getaffinity(0)))


def prefetched(*sources: Generator[T, None, None], depth: int = 1) -> Generator[T, None, None]:
    """The items of ``sources``, each produced by a thread of its own up to ``depth`` items
    ahead of the consumer; with several sources, in the order they come.

    Each source runs (and is closed) entirely in its thread, so a connection it opens
    stays in one thread. An exception a source raises is raised here; closing this
    generator stops the threads and closes the sources.
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stopping = threading.Event()

    def offer(kind: str, value: object) -> bool:
        while not stopping.is_set():
            try:
                handoff.put((kind, value), timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def produce(items: Generator[T, None, None]) -> None:
        try:
            for item in items:
                if not offer("item", item):
                    return
            offer("end", None)
        except BaseException as exc:  # handed over to the consumer, raised there
            offer("error", exc)
        finally:
            items.close()

    threads = [
        threading.Thread(target=produce, args=(items,), name="xdmc-source-read", daemon=True)
        for items in sources
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            kind, value = handoff.get()
            if kind == "end":
                running -= 1
            elif kind == "error":
                assert isinstance(value, BaseException)
                raise value
            else:
                yield value  # type: ignore[misc]
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
