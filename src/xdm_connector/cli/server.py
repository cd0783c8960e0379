"""The long-running processes: the API server (``serve``) and a worker alone (``worker``).

Both say on standard output what they do, whatever the log format: where the server
listens once it does, and on SIGTERM or Ctrl-C which job they let finish (for at most
``XDMC_SHUTDOWN_GRACE_SECONDS``), then that they stopped (``serving.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from xdm_connector.cli.common import (
    FdOption,
    check_fd_alone,
    configure_logging,
    opened_store,
    run_command,
)

if TYPE_CHECKING:
    from xdm_connector.settings import Settings

WORKER_NAME = "xdm-connector worker"
"""How ``xdm-connector worker`` names itself in the lines it prints."""


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[bool, typer.Option(help="Run the embedded worker too.")] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            help="Server processes sharing the port (default XDMC_API_PROCESSES, 1); "
            "one per core serves the most. Each runs its own embedded worker.",
        ),
    ] = None,
    fd: FdOption = None,
) -> None:
    """Serve the API (and, by default, run an embedded worker)."""
    from xdm_connector.app import SERVER_NAME, serving_app
    from xdm_connector.serving import inherited_socket, run_server
    from xdm_connector.settings import Settings

    check_fd_alone(fd, host, port)
    overrides: dict[str, Any] = {"embedded_worker": worker}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if processes is not None:
        overrides["api_processes"] = processes
    settings = Settings(**overrides)
    configure_logging(settings)
    listening = None if fd is None else run_command(lambda: inherited_socket(fd))
    where: dict[str, Any] = {"host": settings.host, "port": settings.port, "listening": listening}
    # Access logs are off: a line per request costs more than a short request itself.
    if settings.api_processes == 1:
        run_server(serving_app(settings), who=SERVER_NAME, access_log=False, **where)
        return
    # Each process builds its settings from the environment: hand it the options given here.
    _export_settings(settings)
    run_server(
        "xdm_connector.app:create_app_from_environment",
        who=SERVER_NAME,
        processes=settings.api_processes,
        access_log=False,
        **where,
    )


def _export_settings(settings: Settings) -> None:
    """Put ``serve``'s options in the environment its server processes read."""
    import os

    os.environ["XDMC_EMBEDDED_WORKER"] = "true" if settings.embedded_worker else "false"
    os.environ["XDMC_HOST"] = settings.host
    os.environ["XDMC_PORT"] = str(settings.port)


def run_worker() -> None:
    """Run a worker (and scheduler) alone, until SIGTERM or Ctrl-C; a job it runs then may
    finish within XDMC_SHUTDOWN_GRACE_SECONDS."""
    import signal
    from functools import partial

    from xdm_connector.jobs.notify import outbox_wakeups
    from xdm_connector.jobs.worker import Worker
    from xdm_connector.services.webhook_delivery import WebhookDispatcher
    from xdm_connector.serving import STOP_SIGNALS, announce

    with opened_store() as (settings, store):
        configure_logging(settings)
        worker = Worker(store, settings)
        dispatcher = WebhookDispatcher(store, settings, wakeups=outbox_wakeups(store))
        # Blocked before the worker's threads start, which inherit the mask: the stop
        # signals wait for this thread to take them, outside of any signal handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            worker.start_in_thread()
            dispatcher.start_in_thread()
            while worker.is_looping():
                if signal.sigtimedwait(STOP_SIGNALS, 1.0) is not None:
                    announce(WORKER_NAME, "stopping")
                    break
            worker.stop(say=partial(announce, WORKER_NAME))
            dispatcher.stop(timeout=settings.shutdown_grace_seconds)
            announce(WORKER_NAME, "stopped")
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
