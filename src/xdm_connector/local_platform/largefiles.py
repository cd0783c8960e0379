"""Large files received in ranged parts: ``INITIALIZE``, ``PATCH`` parts, ``COMPLETE``.

A file being received lives at ``uploads/<path>`` (its bytes, written at each part's
offset) with ``parts/<path>`` (its total size and the ranges received). A part sent again
with the same range replaces itself; a part overlapping another one otherwise is refused,
and so is a ``COMPLETE`` while bytes are missing. ``COMPLETE`` moves the file among the
batch's files. A part arrives in a file of its own (``uploads.py``), checked against the
parts received before its body is read and again when it is copied into place. The caller
holds the batch's lock, except for ``check_part``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from xdm_connector.destinations.lake import read_json, write_json
from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.local_platform.storage import inside
from xdm_connector.local_platform.uploads import ContentRange

COPY_CHUNK_BYTES = 1024 * 1024


class LargeFiles:
    """The large files of one batch folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def initialize(self, path: str) -> None:
        """Start (or start again) receiving ``path``."""
        data = inside(self.folder / "uploads", path)
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes(b"")
        write_json(inside(self.folder / "parts", path), {"total": None, "ranges": []})

    def check_part(self, path: str, part: ContentRange) -> dict[str, Any]:
        """The file's state, if ``part`` fits it: the same total size as the parts received,
        overlapping none of them but itself sent again."""
        state = self._state(path)
        if state["total"] not in (None, part.total):
            raise InvalidInput(f"the file's total size was {state['total']}, now {part.total}")
        ranges: list[list[int]] = state["ranges"]
        for first, last in ranges:
            if [first, last] != [part.start, part.end] and first <= part.end and part.start <= last:
                raise InvalidInput(f"part {part.start}-{part.end} overlaps part {first}-{last}")
        return state

    def write_part(self, path: str, part: ContentRange, received: Path) -> None:
        """Copy the bytes of ``part``, received into the file ``received``, into place."""
        state = self.check_part(path, part)
        with (
            received.open("rb") as source,
            inside(self.folder / "uploads", path).open("r+b") as data,
        ):
            data.seek(part.start)
            shutil.copyfileobj(source, data, COPY_CHUNK_BYTES)
        ranges: list[list[int]] = state["ranges"]
        if [part.start, part.end] not in ranges:
            ranges.append([part.start, part.end])
        write_json(inside(self.folder / "parts", path), {"total": part.total, "ranges": ranges})

    def complete(self, path: str) -> None:
        """Make the file one of the batch's files once every byte has arrived."""
        target = inside(self.folder / "files", path)
        meta = inside(self.folder / "parts", path)
        if not meta.is_file() and target.is_file():
            return  # completed already
        state = self._state(path)
        received = sum(last - first + 1 for first, last in state["ranges"])
        if state["total"] is None or received != state["total"]:
            raise InvalidInput(
                f"file {path[:200]!r} is missing parts: {received} of "
                f"{state['total'] if state['total'] is not None else '?'} bytes received"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(inside(self.folder / "uploads", path), target)
        meta.unlink()

    def received(self, path: str) -> tuple[int, bool]:
        """The bytes received of ``path``, and whether it is complete."""
        target = inside(self.folder / "files", path)
        if target.is_file():
            return target.stat().st_size, True
        state = self._state(path)
        return sum(last - first + 1 for first, last in state["ranges"]), False

    def _state(self, path: str) -> dict[str, Any]:
        meta = inside(self.folder / "parts", path)
        if not meta.is_file():
            raise NotFound(f"no large file {path[:200]!r} was initialized in this batch")
        return read_json(meta)
