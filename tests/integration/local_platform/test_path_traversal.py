"""File paths in URLs never leave the local platform service's folder, however written."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.local_platform.conftest import IMPORT, LocalPlatform
from tests.integration.local_platform.test_service_protocol import new_batch

TRAVERSALS = [
    "..%2F..%2F..%2Fclients.json",
    "%2e%2e/%2e%2e/%2e%2e/clients.json",
    "%2E%2E%2F%2E%2E%2Fescaped.json",
    "%252e%252e%252f%252e%252e%252fescaped.json",
    "..%5C..%5Cescaped.json",
    "%2Fetc%2Fescaped.json",
    "ok/..%2F..%2F..%2F..%2Fescaped.json",
    ".escaped.json",
    "%00escaped.json",
]


def files_outside_batches(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "batches" not in p.parts}


def raw_request(platform: LocalPlatform, method: str, target: str, body: bytes) -> int:
    """Send ``target`` byte for byte (an HTTP client would normalize its dot segments)."""
    address = urlsplit(platform.url)
    headers = "".join(f"{name}: {value}\r\n" for name, value in platform.headers().items())
    request = (
        f"{method} {target} HTTP/1.1\r\nHost: {address.netloc}\r\n{headers}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("path", TRAVERSALS)
def test_encoded_traversals_in_file_paths_are_refused(
    local_platform: LocalPlatform, path: str
) -> None:
    batch_id = new_batch(local_platform)
    root = local_platform.storage.root
    before = {p: p.read_bytes() for p in files_outside_batches(root)}
    url = f"{IMPORT}/{batch_id}/datasets/profiles/files/{path}"
    statuses = {
        "PUT": raw_request(local_platform, "PUT", url, b"{}\n"),
        "INITIALIZE": local_platform.call("POST", url, params={"action": "INITIALIZE"}).status_code,
        "PATCH": local_platform.call(
            "PATCH", url, content=b"{}\n", headers={"Content-Range": "bytes 0-2/3"}
        ).status_code,
        "HEAD": local_platform.call("HEAD", url).status_code,
    }
    assert all(status >= 400 for status in statuses.values()), statuses
    assert {p: p.read_bytes() for p in files_outside_batches(root)} == before
    assert not list(root.parent.rglob("*escaped*"))


def test_the_refusal_names_the_path_rule(local_platform: LocalPlatform) -> None:
    batch_id = new_batch(local_platform)
    url = f"{IMPORT}/{batch_id}/datasets/profiles/files/..%2F..%2Fclients.json"
    response = local_platform.call("PUT", url, content=b"{}\n")
    assert response.status_code == 400
    assert "invalid file path" in response.json()["detail"]


@pytest.mark.parametrize(
    "target",
    [
        "{import}/{batch}/datasets/profiles/files/../../../../../clients.json",
        "{import}/{batch}/datasets/profiles/files/a/../../../../../../escaped.json",
        "{import}/../../../escaped.json",
        "{import}/{batch}/datasets/../../../../files/escaped.json",
        "{import}/{batch}/datasets/profiles/files//tmp/escaped.json",
    ],
)
def test_literal_dot_segments_are_refused(local_platform: LocalPlatform, target: str) -> None:
    batch_id = new_batch(local_platform)
    root = local_platform.storage.root
    before = {p: p.read_bytes() for p in files_outside_batches(root)}
    url = target.replace("{import}", IMPORT).replace("{batch}", batch_id)
    status = raw_request(local_platform, "PUT", url, b"{}\n")
    assert status >= 400
    assert {p: p.read_bytes() for p in files_outside_batches(root)} == before
    assert not list(root.parent.rglob("escaped.json"))


@pytest.mark.parametrize("batch_id", ["..", "..%2F..%2Fclients", "%2e%2e", "a%2Fb"])
def test_batch_ids_are_never_paths(local_platform: LocalPlatform, batch_id: str) -> None:
    for path in (
        f"/data/foundation/catalog/batches/{batch_id}",
        f"/data/foundation/export/batches/{batch_id}/failed",
    ):
        assert local_platform.call("GET", path).status_code == 404
