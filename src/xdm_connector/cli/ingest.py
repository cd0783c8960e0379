"""Ingestion requests of a remote server, through its API: ``ingest trigger|status|cancel``.

::

    export XDMC_CLIENT_ID=... XDMC_CLIENT_SECRET=...
    xdm-connector ingest trigger demo XDM44 --url http://127.0.0.1:8080 --wait

These commands open no store: they call the server at ``--url`` with the Python client
(``xdm_connector.client``), as an integration. The client id is ``--client-id`` or
``XDMC_CLIENT_ID``; the secret is never given on the command line (where ``ps`` and the
shell's history would show it) but read from the environment variable that
``--client-secret-env`` names (``XDMC_CLIENT_SECRET`` by default), as a platform
destination's ``clientSecret`` names one. Each prints the ingestion API's body as JSON;
with ``--wait``, ``trigger`` prints the request's last status and exits 1 when it ended
``Failed`` or ``Aborted``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from xdm_connector.cli.common import echo_json, run_command

if TYPE_CHECKING:
    from xdm_connector.client import IngestionStatus, XdmClient

ingest_app = typer.Typer(
    no_args_is_help=True, help="Ingestion requests of a remote server, through its API."
)

OrgArgument = Annotated[str, typer.Argument(help="The organization.")]
MappingArgument = Annotated[str, typer.Argument(help="The data mapping's id (XDM44).")]
RequestArgument = Annotated[int, typer.Argument(help="The request's id.")]
UrlOption = Annotated[str, typer.Option("--url", help="The server's base URL.")]
ClientIdOption = Annotated[
    str | None,
    typer.Option(
        "--client-id",
        envvar="XDMC_CLIENT_ID",
        help="The integration's client id (else the environment's XDMC_CLIENT_ID).",
        show_envvar=False,
    ),
]
SecretEnvOption = Annotated[
    str,
    typer.Option(
        "--client-secret-env",
        metavar="VAR",
        help="The environment variable that holds the integration's client secret.",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", min=0, help="With --wait: give up after so many seconds."),
]
DEFAULT_SECRET_VARIABLE = "XDMC_CLIENT_SECRET"  # noqa: S105 - the variable's name


def _client(url: str, org: str, client_id: str | None, secret_variable: str) -> XdmClient:
    """A client of ``org`` at ``url``; a usage error when the credentials are missing."""
    # The client (and httpx) only for the commands that call a server.
    from xdm_connector.client import XdmClient

    if not client_id:
        raise typer.BadParameter("give --client-id or set XDMC_CLIENT_ID", param_hint="--client-id")
    secret = os.environ.get(secret_variable)
    if not secret:
        raise typer.BadParameter(
            f"the environment variable {secret_variable} holds no client secret",
            param_hint="--client-secret-env",
        )
    return XdmClient(url, org=org, client_id=client_id, client_secret=secret)


@ingest_app.command("trigger")
def ingest_trigger(
    org: OrgArgument,
    mapping: MappingArgument,
    url: UrlOption,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the request ends.")] = False,
    timeout: TimeoutOption = None,
    client_id: ClientIdOption = None,
    client_secret_env: SecretEnvOption = DEFAULT_SECRET_VARIABLE,
) -> None:
    """Trigger an immediate ingestion of a published, stopped mapping; prints the answer
    (with --wait, the request's last status: exit 1 when it failed or was aborted)."""
    from xdm_connector.client import ClientError, IngestionFailed

    with _client(url, org, client_id, client_secret_env) as client:
        submitted = run_command(lambda: client.trigger(mapping))
        if not wait:
            echo_json(submitted.body)
            return
        try:
            status = client.wait(mapping, submitted.request_id, timeout=timeout)
        except IngestionFailed as exc:
            echo_json(exc.status.body)
            typer.echo(f"error: {exc.code} {exc.message}", err=True)
            raise typer.Exit(1) from exc
        except ClientError as exc:
            typer.echo(f"error: {exc.code} {exc}", err=True)
            raise typer.Exit(1) from exc
        echo_json(status.body)


def _request_command(
    name: str, summary: str, act: Callable[[XdmClient, str, int], IngestionStatus]
) -> None:
    """Add ``ingest NAME ORG MAPPING REQUEST_ID``: ``act`` on the request, then print the
    status it answers; ``summary`` is the command's help."""

    def command(
        org: OrgArgument,
        mapping: MappingArgument,
        request_id: RequestArgument,
        url: UrlOption,
        client_id: ClientIdOption = None,
        client_secret_env: SecretEnvOption = DEFAULT_SECRET_VARIABLE,
    ) -> None:
        with _client(url, org, client_id, client_secret_env) as client:
            echo_json(run_command(lambda: act(client, mapping, request_id)).body)

    command.__doc__ = summary
    ingest_app.command(name)(command)


_request_command(
    "status",
    "Print a request's status.",
    lambda client, mapping, request_id: client.status(mapping, request_id),
)
_request_command(
    "cancel",
    "Cancel a request in progress (it ends Aborted); prints its status.",
    lambda client, mapping, request_id: client.cancel(mapping, request_id),
)
