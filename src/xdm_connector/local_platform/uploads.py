"""Bodies of uploads to the local platform service: checked from their headers before a
byte is read, then streamed to disk in chunks with a running bound.

A ``PUT`` of a file and a ``PATCH`` of a large file's part are refused, in the gateway's
shape, when::

    Content-Length is not a number of bytes              400 {"error_code": "400050", ...}
    Content-Range is not bytes {start}-{end}/{total}     400 400051
        with start <= end < total
    the body's length is not what the headers say        400 400052
    the file is over XDMC_PLATFORM_MAX_FILE_BYTES, or    413 413050
        a part over 512,000,000 bytes

A refusal closes the connection, so the rest of a refused body is never read; the bytes
of a body are written to a file as they arrive, never gathered in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.requests import Request

from xdm_connector.local_platform.auth import GatewayError

MAX_PART_BYTES = 512_000_000
"""The most bytes one ``PATCH`` part may hold (the platform's own limit)."""

# Twenty digits hold any size a file system has; a longer number is malformed, not huge.
_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20})")
_LENGTH = re.compile(r"\d{1,20}")


class UploadRefused(GatewayError):
    """An upload refused before (or while) its body is read; its connection is closed."""

    close_connection = True


@dataclass(frozen=True)
class ContentRange:
    """The bytes ``[start, end]`` of a file of ``total`` bytes that a part carries."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        """The bytes the part holds."""
        return self.end - self.start + 1


def too_large(size: int, max_file_bytes: int) -> UploadRefused:
    """The refusal of a file of ``size`` bytes (or more) over the service's limit."""
    return UploadRefused(
        413,
        "413050",
        f"the file has {size} bytes or more; this service takes files of at most "
        f"{max_file_bytes} bytes",
    )


def content_range(header: str | None, max_file_bytes: int) -> ContentRange:
    """The part a ``Content-Range`` header names, checked against the file size limit.

    ``content_range("bytes 0-99/250", 1000)`` is ``ContentRange(0, 99, 250)``;
    ``"bytes 5-1/10"``, ``"bytes 0-9/10/"`` or ``None`` raise a 400, a total over
    ``max_file_bytes`` a 413.
    """
    text = (header or "").strip()
    matched = _RANGE.fullmatch(text)
    if matched is None:
        raise UploadRefused(
            400, "400051", "a part needs Content-Range: bytes {start}-{end}/{total}"
        )
    start, end, total = (int(group) for group in matched.groups())
    if not start <= end < total:
        raise UploadRefused(
            400,
            "400051",
            f"invalid Content-Range {text}: the first byte, the last byte and the total "
            "size must be such that first <= last < total",
        )
    if total > max_file_bytes:
        raise too_large(total, max_file_bytes)
    part = ContentRange(start, end, total)
    if part.length > MAX_PART_BYTES:
        raise UploadRefused(
            413, "413050", f"a part holds at most {MAX_PART_BYTES} bytes, not {part.length}"
        )
    return part


def declared_length(request: Request) -> int | None:
    """The body's length by its ``Content-Length``; None for a body sent in chunks."""
    header = request.headers.get("content-length")
    if header is None:
        return None
    if not _LENGTH.fullmatch(header.strip()):
        raise UploadRefused(400, "400050", "Content-Length must be a number of bytes")
    return int(header)


def length_mismatch(received: str, expected: int) -> UploadRefused:
    """The refusal of a body whose length is not the one its headers declare."""
    return UploadRefused(
        400, "400052", f"the body has {received} bytes; its headers say {expected}"
    )


async def receive(
    request: Request, target: Path, *, limit: int, expected: int | None = None
) -> int:
    """Write the request's body into ``target`` as it arrives; answers its length.

    More than ``limit`` bytes is ``too_large`` (``length_mismatch`` when ``expected`` is
    given), checked at each chunk so that the rest is never read; a body that ends with
    another length than ``expected`` is ``length_mismatch``.
    """
    received = 0
    async with await anyio.open_file(target, "wb") as sink:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                if expected is not None:
                    raise length_mismatch(f"more than {expected}", expected)
                raise too_large(received, limit)
            await sink.write(chunk)
    if expected is not None and received != expected:
        raise length_mismatch(str(received), expected)
    return received
