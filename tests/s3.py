"""A real S3-compatible server for the tests: moto's, started as a process of its own.

``s3_server()`` starts ``python -m moto.server`` on a free port of the loopback address,
waits until it answers, and stops it afterwards. ``bucket`` creates a bucket with a plain
HTTP ``PUT`` (moto takes unsigned requests). ``environment`` is what a process needs to
reach it: the standard AWS variables, as the product reads them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from moto import server as moto_server

START_SECONDS = 60


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server."""

    endpoint: str

    def environment(self) -> dict[str, str]:
        """The AWS variables that point a process at this server."""
        return {
            "AWS_ACCESS_KEY_ID": "testing-key-id",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-access-key",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def bucket(self) -> str:
        """A new empty bucket's name."""
        name = f"lake-{uuid.uuid4().hex[:12]}"
        answer = httpx.put(f"{self.endpoint}/{name}", timeout=30)
        assert answer.status_code == 200, answer.text
        return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's server, running until the block ends."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", moto_server.__name__, "-H", "127.0.0.1", "-p", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, "moto's server exited"
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto's server did not answer"
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
