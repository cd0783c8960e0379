"""API clients of an organization: ``integrations create|list|rotate|delete``."""

from __future__ import annotations

from typing import Annotated

import typer

from xdm_connector.cli.common import OrgOption, echo_json, opened_store, operator, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows

integrations_app = typer.Typer(no_args_is_help=True, help="API clients of an organization.")

ClientIdArgument = Annotated[str, typer.Argument(help="The integration's client id.")]
INTEGRATION_COLUMNS = (
    Column("clientId", "CLIENT ID"),
    Column("name", "NAME"),
    Column("groups", "GROUPS", prose=True),
    Column("created", "CREATED"),
)


@integrations_app.command("create")
def integrations_create(
    org: OrgOption,
    group: Annotated[list[str], typer.Option("--group", help="Security group (repeatable).")],
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "integration",
) -> None:
    """Create an API client; prints its client id and secret (shown only once)."""
    from xdm_connector.services.integrations import create_integration

    with opened_store() as (_settings, store):
        credentials = run_command(
            lambda: create_integration(store, org, groups=group, name=name, actor=operator())
        )
        echo_json({"client_id": credentials.client_id, "client_secret": credentials.client_secret})


@integrations_app.command("list")
def integrations_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """List the API clients: client id, name, groups, creation time (never a secret)."""
    from xdm_connector.services.integrations import list_integrations

    with opened_store() as (_settings, store):
        rows = [
            (info.client_id, info.name, list(info.groups), info.created_at)
            for info in run_command(lambda: list_integrations(store, org))
        ]
        print_rows(INTEGRATION_COLUMNS, rows, as_json=as_json)


@integrations_app.command("rotate")
def integrations_rotate(org: OrgOption, client_id: ClientIdArgument) -> None:
    """Give an API client a new secret (printed once); its tokens stop working at once."""
    from xdm_connector.services.integrations import rotate_integration

    with opened_store() as (_settings, store):
        credentials = run_command(
            lambda: rotate_integration(store, org, client_id, actor=operator())
        )
        echo_json({"client_id": credentials.client_id, "client_secret": credentials.client_secret})


@integrations_app.command("delete")
def integrations_delete(org: OrgOption, client_id: ClientIdArgument) -> None:
    """Delete an API client; its tokens stop working at once."""
    from xdm_connector.services.integrations import delete_integration

    with opened_store() as (_settings, store):
        run_command(lambda: delete_integration(store, org, client_id, actor=operator()))
        typer.echo(f"integration {client_id} deleted")
