"""The ``xdm-connector`` command line: the same verbs as the API, for operators.

One module per noun: ``server`` (``serve``, ``worker``), ``organizations`` (``orgs``,
``groups``, ``audit``), ``integrations``, ``webhooks``, ``datasets``, ``mappings``, ``lake``,
``local_platform`` (``platform``: the local platform service's commands), and ``ingest``
(requests of a remote server, through its API). What they share
is in ``common`` (the opened store, the error exit) and ``tables`` (rows as an aligned
table, or a JSON array with ``--json``). This module wires them into one ``app``, in the order
``--help`` lists them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import typer

from xdm_connector.cli.common import configure_logging, opened_store, run_command, safe_url
from xdm_connector.cli.datasets import datasets_app
from xdm_connector.cli.ingest import ingest_app
from xdm_connector.cli.integrations import integrations_app
from xdm_connector.cli.lake import lake_app
from xdm_connector.cli.local_platform import platform_app
from xdm_connector.cli.mappings import mappings_app
from xdm_connector.cli.organizations import audit, groups_app, orgs_app
from xdm_connector.cli.server import run_worker, serve
from xdm_connector.cli.webhooks import webhooks_app

__all__ = ["app", "configure_logging", "main"]

app = typer.Typer(
    no_args_is_help=True,
    help="xdm-connector: relational records into XDM datasets.",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help="The metadata store.")


def main() -> None:
    """Entry point of the ``xdm-connector`` command.

    Once the command has ended, the process leaves without finalizing the interpreter: the
    native libraries a command uses (delta-rs, DuckDB, Arrow) may still hold threads then,
    and their destructors at exit have aborted a command whose work was done ("terminate
    called without an active exception"), turning its success into a crash.
    """
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: object) -> None:
    """End the process with ``code`` as ``SystemExit`` would (None: 0; a text: printed,
    then 1), after flushing the logs and the standard streams, without running finalizers."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe, or a closed stream: nothing more can be written to it.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the metadata store's migrations."""
    with opened_store() as (settings, _store):
        typer.echo(f"metadata store up to date: {safe_url(settings.store_url)}")


def demo() -> None:
    """Prepare the demo (idempotent): source, organization, dataset, mapping, credentials."""
    from xdm_connector.demo.setup import prepare_demo, walkthrough

    with opened_store() as (settings, store):
        credentials = run_command(lambda: prepare_demo(settings, store))
        typer.echo(walkthrough(settings, credentials))


app.command()(serve)
app.command("worker")(run_worker)
app.command("audit")(audit)
app.command()(demo)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(groups_app, name="groups")
app.add_typer(integrations_app, name="integrations")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(datasets_app, name="datasets")
app.add_typer(mappings_app, name="mappings")
app.add_typer(lake_app, name="lake")
app.add_typer(platform_app, name="platform")
app.add_typer(ingest_app, name="ingest")
