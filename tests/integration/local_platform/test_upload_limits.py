"""Uploads to the local platform service are checked before they are read, over HTTP.

The service runs with a small file size limit. Oversized and malformed uploads are sent
through a plain socket that keeps sending the body while it watches for the answer: a
refusal must arrive before the body is sent whole (the server did not read it), and the
server closes the connection so that the rest is never read.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.local_platform.conftest import IMPORT, LocalPlatform, running_platform

LIMIT = 1024 * 1024
PLANNED_BODY = 64 * 1024 * 1024
PIECE = b"x" * 65536
ANSWER_SECONDS = 30


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPlatform]:
    with running_platform(
        tmp_path / "platform-home", monkeypatch, platform_max_file_bytes=LIMIT
    ) as started:
        yield started


def new_batch(platform: LocalPlatform) -> str:
    body = {"datasetId": "profiles", "inputFormat": {"format": "json"}}
    response = platform.call("POST", IMPORT, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def file_url(batch_id: str, name: str = "part-0.jsonl") -> str:
    return f"{IMPORT}/{batch_id}/datasets/profiles/files/{name}"


def large_file(platform: LocalPlatform) -> tuple[str, str]:
    batch_id = new_batch(platform)
    url = file_url(batch_id, "big/part-0.jsonl")
    initialized = platform.call("POST", url, params={"action": "INITIALIZE"})
    assert initialized.status_code == 201
    return batch_id, url


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    body_bytes_sent: int
    closed: bool


def send_while_watching(
    platform: LocalPlatform,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body_bytes: int,
    chunked: bool = False,
) -> RawAnswer:
    """Send the request's head, then its body (``body_bytes`` of it, in chunked frames if
    ``chunked``) for as long as no answer has come; answers the answer and how much of the
    body had been sent when it came."""
    address = urlsplit(platform.url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in {**platform.headers(), **headers}.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, port), timeout=ANSWER_SECONDS) as connection:
        connection.sendall(head)
        outgoing = bytearray()
        queued = sent = 0
        deadline = time.monotonic() + ANSWER_SECONDS
        while True:
            assert time.monotonic() < deadline, "no answer came"
            writing = [connection] if sent < body_bytes else []
            readable, writable, _ = select.select([connection], writing, [], 1.0)
            if readable:
                break
            if not writable:
                continue
            if not outgoing:
                size = min(len(PIECE), body_bytes - queued)
                queued += size
                frame = PIECE[:size]
                if chunked:
                    frame = f"{size:x}\r\n".encode() + frame + b"\r\n"
                    if queued == body_bytes:
                        frame += b"0\r\n\r\n"
                outgoing += frame
            try:
                written = connection.send(outgoing)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed the connection: its answer is there to read
            del outgoing[:written]
            if not outgoing:
                sent = queued
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = json.loads(response.read())
        try:
            closed = connection.recv(1) == b""
        except ConnectionResetError:
            closed = True
        return RawAnswer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            body,
            sent,
            closed,
        )


def leftovers(platform: LocalPlatform, batch_id: str) -> list[str]:
    """The batch's files and temporary files (its catalog object and parts aside)."""
    folder = platform.storage.batch_folder(batch_id)
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name != "batch.json" and "parts" not in path.parts
    )


def test_a_file_declared_over_the_limit_is_refused_before_its_body_is_read(
    platform: LocalPlatform,
) -> None:
    batch_id = new_batch(platform)
    answer = send_while_watching(
        platform,
        "PUT",
        file_url(batch_id),
        {"Content-Length": str(PLANNED_BODY)},
        body_bytes=PLANNED_BODY,
    )
    assert answer.status == 413
    assert answer.body["error_code"] == "413050"
    assert str(LIMIT) in answer.body["message"]
    assert answer.body_bytes_sent < PLANNED_BODY
    assert (answer.headers["connection"], answer.closed) == ("close", True)
    assert leftovers(platform, batch_id) == []


def test_a_file_sent_in_chunks_is_refused_once_past_the_limit(platform: LocalPlatform) -> None:
    batch_id = new_batch(platform)
    answer = send_while_watching(
        platform, "PUT", file_url(batch_id), {}, body_bytes=PLANNED_BODY, chunked=True
    )
    assert (answer.status, answer.body["error_code"]) == (413, "413050")
    assert answer.body_bytes_sent < PLANNED_BODY
    assert answer.closed
    assert leftovers(platform, batch_id) == []


def test_a_part_longer_than_its_range_is_refused_before_its_body_is_read(
    platform: LocalPlatform,
) -> None:
    batch_id, url = large_file(platform)
    answer = send_while_watching(
        platform,
        "PATCH",
        url,
        {"Content-Range": "bytes 0-0/1", "Content-Length": str(PLANNED_BODY)},
        body_bytes=PLANNED_BODY,
    )
    assert (answer.status, answer.body["error_code"]) == (400, "400052")
    assert answer.body_bytes_sent < PLANNED_BODY
    assert answer.closed
    assert leftovers(platform, batch_id) == ["uploads/big/part-0.jsonl"]
    assert platform.call("HEAD", url).headers["content-length"] == "0"


def test_a_part_sent_in_chunks_is_refused_once_past_its_range(platform: LocalPlatform) -> None:
    batch_id, url = large_file(platform)
    answer = send_while_watching(
        platform,
        "PATCH",
        url,
        {"Content-Range": f"bytes 0-{LIMIT - 1}/{LIMIT}"},
        body_bytes=PLANNED_BODY,
        chunked=True,
    )
    assert (answer.status, answer.body["error_code"]) == (400, "400052")
    assert answer.body_bytes_sent < PLANNED_BODY
    assert platform.call("HEAD", url).headers["content-length"] == "0"
    assert (
        platform.storage.batch_folder(batch_id) / "uploads/big/part-0.jsonl"
    ).stat().st_size == 0


TWO_TO_THE_62 = 2**62


@pytest.mark.parametrize(
    ("content_range", "body", "status", "code"),
    [
        # Far past the limit: no sparse file of a terabyte, no overflow.
        ("bytes 1000000000000-1000000000001/1000000000002", b"{}", 413, "413050"),
        (f"bytes {TWO_TO_THE_62}-{TWO_TO_THE_62 + 1}/{TWO_TO_THE_62 + 2}", b"{}", 413, "413050"),
        (f"bytes {2**64}-{2**64 + 1}/{2**64 + 2}", b"{}", 413, "413050"),
        ("bytes 0-1/99999999999999999999", b"{}", 413, "413050"),
        (f"bytes 0-1/{LIMIT + 1}", b"{}", 413, "413050"),
        # Malformed, or not first <= last < total.
        ("bytes " + "9" * 5000 + "-" + "9" * 5000 + "/" + "9" * 5001, b"{}", 400, "400051"),
        ("bytes 1-0/2", b"{}", 400, "400051"),
        ("bytes 0-2/2", b"{}", 400, "400051"),
        ("bytes 0-1/*", b"{}", 400, "400051"),
        ("bytes */2", b"{}", 400, "400051"),
        ("bytes=0-1/2", b"{}", 400, "400051"),
        ("bytes -1-0/2", b"{}", 400, "400051"),
        ("bytes 0-1/2, 2-3/4", b"{}", 400, "400051"),
        ("", b"{}", 400, "400051"),
        # The body is not the range's length.
        ("bytes 0-0/1", b"{}", 400, "400052"),
        ("bytes 0-9/10", b"{}", 400, "400052"),
    ],
)
def test_a_part_is_checked_against_its_content_range(
    platform: LocalPlatform, content_range: str, body: bytes, status: int, code: str
) -> None:
    batch_id, url = large_file(platform)
    headers = {"Content-Range": content_range} if content_range else {}
    answer = platform.call("PATCH", url, headers=headers, content=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error_code"] == code
    assert answer.headers["connection"] == "close"
    assert platform.call("HEAD", url).headers["content-length"] == "0"
    upload = platform.storage.batch_folder(batch_id) / "uploads/big/part-0.jsonl"
    assert upload.stat().st_size == 0
    assert leftovers(platform, batch_id) == ["uploads/big/part-0.jsonl"]


def test_files_and_parts_up_to_the_limit_are_taken(platform: LocalPlatform) -> None:
    batch_id = new_batch(platform)
    whole = platform.call("PUT", file_url(batch_id), content=b"x" * LIMIT)
    assert whole.status_code == 200, whole.text
    received = platform.storage.batch_folder(batch_id) / "files/part-0.jsonl"
    assert received.stat().st_size == LIMIT

    _, url = large_file(platform)
    last = platform.call(
        "PATCH",
        url,
        headers={"Content-Range": f"bytes {LIMIT - 2}-{LIMIT - 1}/{LIMIT}"},
        content=b"{}",
    )
    assert last.status_code == 200, last.text
    first = platform.call(
        "PATCH",
        url,
        headers={"Content-Range": f"bytes 0-{LIMIT - 3}/{LIMIT}"},
        content=b" " * (LIMIT - 2),
    )
    assert first.status_code == 200, first.text
    assert platform.call("POST", url, params={"action": "COMPLETE"}).status_code == 201
    assert platform.call("HEAD", url).headers["content-length"] == str(LIMIT)
