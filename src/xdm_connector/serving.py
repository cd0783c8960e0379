"""Running an HTTP application as a server: where it listens, how it stops, what it says.

``serve`` and ``platform serve`` run their application through ``run_server``: on a host
and port, or on a socket bound by the process that started them and inherited as a file
descriptor (``--fd``: nothing else can take the port between its choice and the server's
start), in one process or in several sharing the socket. They tell the person who runs
them, on standard output and whatever the log format (the logs go to standard error),
where they listen once they do, and what they wait for when they stop::

    xdm-connector listening on http://127.0.0.1:8080
    xdm-connector stopping
    xdm-connector waiting up to 30 s for job 12 (organization demo, mapping XDM44) to finish, then aborting it
    xdm-connector stopped
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.supervisors.multiprocess import Multiprocess

from xdm_connector.errors import InvalidInput

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STARTUP_FAILURE = 3
"""The exit status of a server that could not start (uvicorn's)."""


def announce(who: str, message: str) -> None:
    """Tell the person running ``who`` something: one line on standard output."""
    # One write, newline included: unbuffered (PYTHONUNBUFFERED), print() writes the line
    # and its end apart, and a log line on a shared standard error could land between.
    sys.stdout.write(f"{who} {message}\n")
    sys.stdout.flush()


def inherited_socket(fd: int) -> socket.socket:
    """The TCP socket inherited as file descriptor ``fd``, bound (and perhaps listening)
    by the process that started this one; ``InvalidInput`` when it is not one."""
    try:
        inherited = socket.socket(fileno=fd)
    except OSError as exc:
        raise InvalidInput(f"file descriptor {fd} is not an open socket ({exc.strerror})") from exc
    kind = (inherited.family, inherited.type)
    if kind not in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_STREAM)):
        inherited.detach()  # not ours to close
        raise InvalidInput(f"file descriptor {fd} is not a TCP socket")
    if inherited.getsockname()[1] == 0:
        inherited.detach()
        raise InvalidInput(f"the socket of file descriptor {fd} is not bound to a port")
    return inherited


def url_of(address: tuple[Any, ...]) -> str:
    """The URL of a socket's address (``getsockname()``): ``http://127.0.0.1:8080``, or
    ``http://[::1]:8080`` for an IPv6 one."""
    host, port = address[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(
    app: ASGIApp | str,
    *,
    who: str,
    host: str,
    port: int,
    listening: socket.socket | None = None,
    processes: int = 1,
    **options: Any,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, saying where it listens and that it stopped.

    ``app`` is the application, or with several ``processes`` the import path of a factory
    that each process calls. A ``listening`` socket (``inherited_socket``) is served
    instead of ``host`` and ``port``. ``options`` go to uvicorn's ``Config``. Exits with
    ``STARTUP_FAILURE`` when a single process could not start.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        factory=processes > 1,
        workers=processes,
        log_level="warning",
        **options,
    )
    if processes > 1:
        shared = listening or config.bind_socket()
        supervisor = _AnnouncingProcesses(config, [shared], who, url_of(shared.getsockname()))
        supervisor.run()
        if supervisor.listening:
            announce(who, "stopped")
        return
    server = _AnnouncingServer(config, who)
    with _signals_kept_for_the_end():
        server.run(sockets=None if listening is None else [listening])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
    announce(who, "stopped")


@contextmanager
def _signals_kept_for_the_end() -> Iterator[None]:
    """uvicorn raises the stop signal again once the server has stopped, to the handler it
    found: a handler that does nothing lets the process say it stopped, then exit 0."""

    def stopped_already(_signal: int, _frame: FrameType | None) -> None:
        return None

    previous = {stop: signal.signal(stop, stopped_already) for stop in STOP_SIGNALS}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does, and when it stops."""

    def __init__(self, config: uvicorn.Config, who: str) -> None:
        super().__init__(config)
        self.who = who

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            addresses = [
                url_of(listening.getsockname())
                for server in self.servers
                for listening in server.sockets
            ]
            announce(self.who, f"listening on {' and '.join(addresses)}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        announce(self.who, "stopping")
        await super().shutdown(sockets=sockets)


class _AnnouncingProcesses(Multiprocess):
    """uvicorn's processes on one socket, saying where they listen once every one of them
    serves, and when they stop (each process's application says what it waits for)."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], who: str, address: str
    ) -> None:
        super().__init__(config, sockets)
        self.who = who
        self.address = address
        self.listening = False

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        if self.listening or self.should_exit.is_set():
            return
        if all(process.is_ready() for process in self.processes):
            self.listening = True
            announce(self.who, f"listening on {self.address}")

    def handle_int(self) -> None:
        self._say_stopping()
        super().handle_int()

    def handle_term(self) -> None:
        self._say_stopping()
        super().handle_term()

    def _say_stopping(self) -> None:
        if not self.should_exit.is_set():
            announce(self.who, "stopping")
