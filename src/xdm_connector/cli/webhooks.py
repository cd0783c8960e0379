"""Webhooks of an organization: ``webhooks add|list|remove|rotate``, with the store opened
directly (the actor is ``operator:<login>``), as the API's routes do."""

from __future__ import annotations

from typing import Annotated

import typer

from xdm_connector.cli.common import OrgOption, echo_json, opened_store, operator, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhooks of an organization.")

WebhookArgument = Annotated[str, typer.Argument(help="The webhook's id (wh_...).")]
WEBHOOK_COLUMNS = (
    Column("id", "ID"),
    Column("url", "URL"),
    Column("events", "EVENTS", prose=True),
    Column("mapping", "MAPPING"),
    Column("created", "CREATED"),
)


@webhooks_app.command("add")
def webhooks_add(
    org: OrgOption,
    url: Annotated[str, typer.Argument(help="Where to send the events (http or https).")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            help="job.ended, job.started, mapping.published, mapping.unpublished (repeatable).",
        ),
    ],
    mapping: Annotated[
        str | None, typer.Option(help="Only this mapping's events (every mapping's if unset).")
    ] = None,
) -> None:
    """Register a webhook; prints its id and secret (shown only once)."""
    from xdm_connector.services.webhooks import register_webhook

    with opened_store() as (settings, store):
        created = run_command(
            lambda: register_webhook(
                store, settings, org, url=url, events=event, mapping_id=mapping, actor=operator()
            )
        )
        echo_json({"id": created.webhook.id, "secret": created.secret})


@webhooks_app.command("list")
def webhooks_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """List the webhooks: id, URL, events, mapping, creation time (never a secret)."""
    from xdm_connector.services.webhooks import list_webhooks

    with opened_store() as (_settings, store):
        rows = [
            (hook.id, hook.url, list(hook.events), hook.mapping_id or "", hook.created_at)
            for hook in run_command(lambda: list_webhooks(store, org))
        ]
        print_rows(WEBHOOK_COLUMNS, rows, as_json=as_json)


@webhooks_app.command("rotate")
def webhooks_rotate(org: OrgOption, webhook_id: WebhookArgument) -> None:
    """Give a webhook a new secret (printed once); what is still to send is signed with it."""
    from xdm_connector.services.webhooks import rotate_webhook

    with opened_store() as (settings, store):
        rotated = run_command(
            lambda: rotate_webhook(store, settings, org, webhook_id, actor=operator())
        )
        echo_json({"id": rotated.webhook.id, "secret": rotated.secret})


@webhooks_app.command("remove")
def webhooks_remove(org: OrgOption, webhook_id: WebhookArgument) -> None:
    """Remove a webhook; its deliveries still to send are dropped."""
    from xdm_connector.services.webhooks import remove_webhook

    with opened_store() as (_settings, store):
        run_command(lambda: remove_webhook(store, org, webhook_id, actor=operator()))
        typer.echo(f"webhook {webhook_id} removed")
