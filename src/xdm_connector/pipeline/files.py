"""The batch files of one job: Parquet (default) or JSON Lines, rolled at a size limit.

>>> writer = BatchFileWriter(workdir, file_format="parquet", schema=shaper.output_schema)
>>> writer.write(shaped.records)  # doctest: +SKIP
>>> writer.close()  # doctest: +SKIP
[WrittenFile(name='part-00000.parquet', path=..., rows=65536, bytes=3120455)]

Files are named ``part-00000.<ext>``, ``part-00001.<ext>``, ... in the order they are
written, so the same rows give the same names. A file is closed and the next one started
once it reaches ``max_file_bytes``. Batches are written in slices of a quarter of the limit
(in memory) for Parquet, each slice a row group, and of a sixteenth for JSON Lines, so a
file exceeds the limit by one compressed slice at most (plus the Parquet footer): the
default 128 MiB keeps every file under the platform's 256 MB. A writer given no row writes
no file.

Encoding and compressing run in a thread of the writer's own (Arrow leaves the GIL), so
that they overlap with the caller's shaping of the next batch. Once a slice is written, the
kernel is asked to start putting it on disk (Linux), so that the ``fsync`` that closes the
file, which the job's end waits for, finds only the last slice left. JSON text, which takes
longer to make than the other stages, is made by threads of its own, one batch each, and
written in the order of the batches: two threads with more than two cores to run on, one
otherwise (on two cores a second thread only competes with the source's readers and the
caller, and holds one more batch's text in memory).
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from xdm_connector.domain.file_formats import FileFormat, check_file_format
from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline.jsontext import json_text, text_bytes
from xdm_connector.settings import ParquetCompression

MAX_FILE_BYTES = 128 * 1024 * 1024
_EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}
_SLICES_PER_FILE = {"parquet": 4, "jsonl": 16}  # a slice is a Parquet row group
PARQUET_COMPRESSION: ParquetCompression = "zstd"
"""The default codec. Dictionaries are off whatever the codec: on profile records, writing
is faster without them (most columns are near-unique: emails, ids, times), and zstd finds
the repeats anyway."""


@dataclass(frozen=True)
class WrittenFile:
    """One finished file: its name (``part-00000.parquet``), path, record count and size."""

    name: str
    path: Path
    rows: int
    bytes: int


class BatchFileWriter:
    """Writes record batches of one schema into rolled files in ``folder``."""

    def __init__(
        self,
        folder: Path,
        *,
        file_format: FileFormat,
        schema: pa.Schema,
        max_file_bytes: int = MAX_FILE_BYTES,
        compression: ParquetCompression = PARQUET_COMPRESSION,
    ) -> None:
        check_file_format(file_format)
        if max_file_bytes < 1:
            raise InvalidInput("max_file_bytes must be positive")
        self.folder = Path(folder)
        self.file_format = file_format
        self.schema = schema
        self.max_file_bytes = max_file_bytes
        self.compression = compression
        self._written: list[WrittenFile] = []
        self._sink: IO[bytes] | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._rows = 0
        self._closed = False
        # Parquet: batches; JSON Lines: their text, being made in ``_encoder``.
        self._queue: queue.Queue[pa.RecordBatch | Future[pa.Array] | None]
        self._queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._encoder: ThreadPoolExecutor | None = None
        self._failure: BaseException | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        """Append ``batch`` (of the writer's schema), starting new files as needed.

        The batch is encoded and written by the writer's thread while the caller goes on
        (one batch waits at most); an error there is raised by the next call.
        """
        if self._closed:
            raise InvalidInput("The batch file writer is closed")
        if not batch.schema.equals(self.schema):
            raise InvalidInput(f"Batch schema {batch.schema} differs from the file schema")
        self._raise_failure()
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="xdmc-file-write", daemon=True)
            self._thread.start()
        if self.file_format == "jsonl":
            if self._encoder is None:
                threads = json_threads()
                self._encoder = ThreadPoolExecutor(threads, thread_name_prefix="xdmc-json")
            # One text waits in the queue while the next is made and another is written.
            self._queue.put(self._encoder.submit(_json_lines_text, batch))
        else:
            self._queue.put(batch)

    def close(self) -> list[WrittenFile]:
        """Finish the current file; answers every file written, in order."""
        if not self._closed:
            self._closed = True
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
            if self._encoder is not None:
                self._encoder.shutdown()
            self._finish()
        self._raise_failure()
        return list(self._written)

    def _drain(self) -> None:
        """The writer's thread: writes the batches handed over until ``close()``."""
        while (item := self._queue.get()) is not None:
            if self._failure is not None:
                continue  # keep taking batches so that ``write`` never blocks for good
            try:
                if isinstance(item, Future):
                    self._append_text(item.result())
                else:
                    self._append(item)
            except BaseException as exc:  # raised by the caller's next call
                self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _append(self, batch: pa.RecordBatch) -> None:
        step = self._slice_rows(batch.nbytes, batch.num_rows)
        for start in range(0, batch.num_rows, step):
            part = batch.slice(start, step)
            if self._sink is None:
                self._open()
            assert self._parquet is not None
            assert self._sink is not None
            self._parquet.write_batch(part)
            self._rows += part.num_rows
            start_writeback(self._sink)
            if self._size() >= self.max_file_bytes:
                self._finish()

    def _append_text(self, lines: pa.Array) -> None:
        """JSON Lines: ``lines`` holds one line per record."""
        step = self._slice_rows(text_bytes(lines).size, len(lines))
        for start in range(0, len(lines), step):
            part = lines.slice(start, step)
            if self._sink is None:
                self._open()
            assert self._sink is not None
            self._sink.write(text_bytes(part))
            self._rows += len(part)
            start_writeback(self._sink)
            if self._size() >= self.max_file_bytes:
                self._finish()

    # -- files ------------------------------------------------------------------------------

    def _slice_rows(self, size: int, rows: int) -> int:
        """Rows of about a slice's bytes, given ``size`` bytes for ``rows`` rows."""
        if rows == 0:
            return 1
        bytes_per_row = max(1, int(size) // int(rows))
        slice_bytes = self.max_file_bytes // _SLICES_PER_FILE[self.file_format]
        return max(1, slice_bytes // bytes_per_row)

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(len(self._written))
        self._sink = path.open("wb")
        self._rows = 0
        if self.file_format == "parquet":
            self._parquet = pq.ParquetWriter(
                self._sink, self.schema, compression=self.compression, use_dictionary=False
            )

    def _path(self, index: int) -> Path:
        return self.folder / f"part-{index:05d}.{_EXTENSIONS[self.file_format]}"

    def _size(self) -> int:
        assert self._sink is not None
        return self._sink.tell()

    def _finish(self) -> None:
        if self._sink is None:
            return
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        # On disk now, in this thread: the destination's own flush (the lake's, before it
        # commits) then finds nothing left, and a rolled file's flush overlaps the next one.
        self._sink.flush()
        os.fsync(self._sink.fileno())
        self._sink.close()
        self._sink = None
        path = self._path(len(self._written))
        self._written.append(WrittenFile(path.name, path, self._rows, path.stat().st_size))


_SYNC_FILE_RANGE_WRITE = 2
"""``<linux/fs.h>``: start writing the range's dirty pages, without waiting for them."""


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range``, which Python's ``os`` leaves out; elsewhere ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_WRITEBACK = _sync_file_range()


def start_writeback(sink: IO[bytes]) -> None:
    """Have the kernel start writing what ``sink`` holds so far to disk, and go on: a hint
    that shortens the ``fsync`` to come, never a substitute for it (nothing where the
    system has no such call)."""
    if _WRITEBACK is None:
        return
    sink.flush()  # what Python still buffers is not in the kernel's pages yet
    _WRITEBACK(sink.fileno(), 0, 0, _SYNC_FILE_RANGE_WRITE)  # a failure only loses the hint


def json_threads() -> int:
    """How many threads make a writer's JSON text: two if this process may run on more
    than two cores, else one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 if (cores or 1) > 2 else 1


def json_lines(batch: pa.RecordBatch) -> bytes:
    """The batch as XED JSON objects, one per line: nulls left out, dates ``2024-01-31``,
    date-times ``2024-01-31T12:30:00Z``, maps as objects (``pipeline/jsontext.py``).

    Built column by column: no Python object per record.
    """
    return bytes(_json_lines_buffer(batch))


def _json_lines_buffer(batch: pa.RecordBatch) -> pa.Buffer:
    """``json_lines`` without copying the text out of Arrow's memory."""
    if batch.num_rows == 0:
        return pa.py_buffer(b"")
    return text_bytes(_json_lines_text(batch))


def _json_lines_text(batch: pa.RecordBatch) -> pa.Array:
    """One JSON Lines line per record of ``batch``, its newline included."""
    return json_text(batch, ending="\n")
