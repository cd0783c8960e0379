"""Fixtures of the integration tests: the lake on a local folder and on a real S3-compatible
server (moto's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3 import S3Server, s3_server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """moto's server, one per test session (and xdist worker)."""
    with s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def lake_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new lake's root: a local folder, or a prefix of a new bucket, with this process's
    AWS environment pointed at the server."""
    if request.param == "local":
        return str(tmp_path / "lake")
    server: S3Server = request.getfixturevalue("s3")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    return f"s3://{server.bucket()}/lake"
