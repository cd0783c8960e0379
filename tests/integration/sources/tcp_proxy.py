"""A TCP proxy in front of a database server that cuts a connection without a word.

``CuttingProxy`` forwards every connection to the server; the first time a client sends
bytes holding ``marker``, it drops them and shuts that connection down on both sides. The
client then finds the connection closed in the middle of its statement: the error libpq
makes of that has no SQLSTATE, unlike an error the server sends (``pg_terminate_backend``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

_CHUNK_BYTES = 64 * 1024


class CuttingProxy:
    """Listens on 127.0.0.1 (``port``) while the block runs; ``cuts`` counts the cut
    connections (at most one)."""

    def __init__(self, server_host: str, server_port: int, marker: bytes) -> None:
        self.server = (server_host, server_port)
        self.marker = marker
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> CuttingProxy:
        self._start(self._accept)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        _shut(self._listener)  # shut, not only closed: a thread blocked in accept() wakes
        for each in sockets:
            _shut(each)
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target: Callable[..., None], *arguments: object) -> None:
        thread = threading.Thread(target=target, args=arguments, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.server)
            with self._lock:
                if self._closed:
                    _shut(client)
                    _shut(upstream)
                    return
                self._sockets += [client, upstream]
            self._start(self._forward_client, client, upstream)
            self._start(_pump, upstream, client)

    def _forward_client(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server, cutting both sides at the first chunk holding the marker."""
        tail = b""
        while True:
            try:
                data = client.recv(_CHUNK_BYTES)
            except OSError:
                break
            if not data:
                break
            with self._lock:
                cut = self.cuts == 0 and self.marker in tail + data
                if cut:
                    self.cuts += 1
            if cut:
                break
            tail = data[-len(self.marker) :]
            try:
                upstream.sendall(data)
            except OSError:
                break
        _shut(client)
        _shut(upstream)


def _pump(source: socket.socket, target: socket.socket) -> None:
    while True:
        try:
            data = source.recv(_CHUNK_BYTES)
            if not data:
                break
            target.sendall(data)
        except OSError:
            break
    _shut(source)
    _shut(target)


def _shut(each: socket.socket) -> None:
    """Both directions shut (the peer reads the end at once), then the socket closed."""
    with contextlib.suppress(OSError):
        each.shutdown(socket.SHUT_RDWR)
    each.close()
