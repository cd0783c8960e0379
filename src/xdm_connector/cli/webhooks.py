"""Webhooks of an organization: ``webhooks add|list|remove|rotate``, with the store opened
directly (the actor is ``operator:<login>``), as the API's routes do."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from xdm_connector.cli.common import OrgOption, echo_json, opened_store, operator, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows

if TYPE_CHECKING:
    from xdm_connector.services.webhooks import WebhookSecret
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhooks of an organization.")

WebhookArgument = Annotated[str, typer.Argument(help="The webhook's id (wh_...).")]
WEBHOOK_COLUMNS = (
    Column("id", "ID"),
    Column("url", "URL"),
    Column("events", "EVENTS", prose=True),
    Column("mapping", "MAPPING"),
    Column("created", "CREATED"),
)


def _print_secret(make: Callable[[Store, Settings], WebhookSecret]) -> None:
    """Make a secret with the store opened, and print it with its webhook's id: the only
    time it is shown."""
    with opened_store() as (settings, store):
        made = run_command(lambda: make(store, settings))
        echo_json({"id": made.webhook.id, "secret": made.secret})


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

    def register(store: Store, settings: Settings) -> WebhookSecret:
        return register_webhook(
            store, settings, org, url=url, events=event, mapping_id=mapping, actor=operator()
        )

    _print_secret(register)


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

    _print_secret(
        lambda store, settings: rotate_webhook(store, settings, org, webhook_id, actor=operator())
    )


@webhooks_app.command("remove")
def webhooks_remove(org: OrgOption, webhook_id: WebhookArgument) -> None:
    """Remove a webhook; its deliveries still to send are dropped."""
    from xdm_connector.services.webhooks import remove_webhook

    with opened_store() as (_settings, store):
        run_command(lambda: remove_webhook(store, org, webhook_id, actor=operator()))
        typer.echo(f"webhook {webhook_id} removed")
