"""The long-running processes: the API server (``serve``) and a worker alone (``worker``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xdm_connector.cli.common import configure_logging, opened_store
from xdm_connector.settings import Settings


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
) -> None:
    """Serve the API (and, by default, run an embedded worker)."""
    import uvicorn

    from xdm_connector.app import serving_app

    overrides: dict[str, Any] = {"embedded_worker": worker}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if processes is not None:
        overrides["api_processes"] = processes
    settings = Settings(**overrides)
    configure_logging(settings)
    host, port = settings.host, settings.port
    # Access logs are off: a line per request costs more than a short request itself.
    if settings.api_processes == 1:
        service = serving_app(settings)
        uvicorn.run(service, host=host, port=port, log_level="warning", access_log=False)
        return
    # Each process builds its settings from the environment: hand it the options given here.
    _export_settings(settings)
    uvicorn.run(
        "xdm_connector.app:create_app_from_environment",
        factory=True,
        workers=settings.api_processes,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


def _export_settings(settings: Settings) -> None:
    """Put ``serve``'s options in the environment its server processes read."""
    import os

    os.environ["XDMC_EMBEDDED_WORKER"] = "true" if settings.embedded_worker else "false"
    os.environ["XDMC_HOST"] = settings.host
    os.environ["XDMC_PORT"] = str(settings.port)


def run_worker() -> None:
    """Run a worker (and scheduler) alone, until interrupted."""
    import signal

    from xdm_connector.jobs.worker import Worker

    with opened_store() as (settings, store):
        configure_logging(settings)
        worker = Worker(store, settings)
        signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
        try:
            worker.run()
        except KeyboardInterrupt:
            worker.request_stop()
