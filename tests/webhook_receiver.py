"""A real HTTP server on 127.0.0.1 that receives webhooks, for the tests.

It records every request (headers, body) and answers each with the next status of
``answers`` (204 once they run out)::

    with Receiver() as receiver:
        ...                                 # register receiver.url, make events happen
        receiver.wait_for(1)                # the requests received, waiting for one
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import orjson
from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> dict[str, Any]:
        """The body, once the reference verifier has checked its signature with ``secret``."""
        document: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return document

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


class Receiver:
    """The server, serving in a thread from ``__enter__`` to ``__exit__``."""

    def __init__(self, answers: Iterable[int] = (), *, location: str = "") -> None:
        self.received: list[Received] = []
        self._answers = list(answers)
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver._answers.pop(0) if receiver._answers else 204
                    receiver._lock.notify_all()
                self.send_response(status)
                if location and 300 <= status < 400:
                    self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/xdm"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """The requests received, once there are at least ``count`` (AssertionError after
        ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} webhook(s) received, {count} expected"
                self._lock.wait(left)
            return list(self.received)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
