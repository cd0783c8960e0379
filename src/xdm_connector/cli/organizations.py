"""Organizations, their security groups and audit trail: ``orgs``, ``groups``, ``audit``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from xdm_connector.cli.common import OrgOption, echo_json, opened_store, operator, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows

orgs_app = typer.Typer(no_args_is_help=True, help="Organizations (tenants).")
groups_app = typer.Typer(no_args_is_help=True, help="Security groups and their roles.")

GroupOption = Annotated[str, typer.Option("--group", help="Security group name.")]
RoleOption = Annotated[str, typer.Option("--role", help="Role: administration or sql.")]

ORGANIZATION_COLUMNS = (Column("id", "ID"), Column("sourceUrl", "SOURCE URL", prose=True))
GROUP_COLUMNS = (Column("name", "NAME"), Column("roles", "ROLES", prose=True))
ROLE_COLUMNS = (Column("name", "NAME"), Column("label", "LABEL", prose=True))
AUDIT_COLUMNS = (
    Column("at", "AT"),
    Column("actor", "ACTOR"),
    Column("action", "ACTION"),
    Column("target", "TARGET"),
    Column("details", "DETAILS", prose=True),
)


@orgs_app.command("create")
def orgs_create(
    org: Annotated[str, typer.Argument(help="Organization id, as in the API's paths.")],
    source_url: Annotated[
        str,
        typer.Option(
            "--source-url",
            help="SQLAlchemy URL of its source database. Name a password, never write it: "
            "postgresql://crm:${CRM_PASSWORD}@db/crm or ...?password_file=/run/secrets/crm.",
        ),
    ],
) -> None:
    """Create an organization with its default security groups."""
    from xdm_connector.services.organizations import create_organization

    with opened_store() as (_settings, store):
        run_command(lambda: create_organization(store, org, source_url, actor=operator()))
        typer.echo(f"organization {org} created")


@orgs_app.command("list")
def orgs_list(as_json: JsonOption = False) -> None:
    """List the organizations and their source URLs (passwords masked)."""
    from xdm_connector.services.organizations import organization_summaries

    with opened_store() as (_settings, store):
        print_rows(ORGANIZATION_COLUMNS, organization_summaries(store), as_json=as_json)


@orgs_app.command("set-destination")
def orgs_set_destination(
    org: Annotated[str, typer.Argument(help="Organization id.")],
    config: Annotated[
        str | None, typer.Argument(help='The destination as JSON, e.g. \'{"type": "lake"}\'.')
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the destination from a JSON file.")
    ] = None,
) -> None:
    """Set where an organization's jobs deliver: the lake or a platform (README).

    A mapping whose records now land elsewhere has its watermark reset: its next export
    sends every record to the new destination (said on standard error)."""
    from xdm_connector.destinations.config import destination_document
    from xdm_connector.services.organizations import set_destination

    if (config is None) == (file is None):
        typer.echo("error: give the destination as an argument or with --file", err=True)
        raise typer.Exit(2)
    text = file.read_text(encoding="utf-8") if file is not None else config or ""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        typer.echo(f"error: the destination is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    with opened_store() as (_settings, store):
        change = run_command(lambda: set_destination(store, org, document, actor=operator()))
        echo_json(destination_document(change.config))
        for mapping_id in change.reset_mappings:
            typer.echo(
                f"mapping {mapping_id}: watermark reset, its next export sends every record "
                "to the new destination",
                err=True,
            )


@groups_app.command("list")
def groups_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """List the security groups and their roles."""
    from xdm_connector.services.organizations import list_groups

    with opened_store() as (_settings, store):
        groups = run_command(lambda: list_groups(store, org))
        print_rows(
            GROUP_COLUMNS, [(group.name, list(group.roles)) for group in groups], as_json=as_json
        )


@groups_app.command("create")
def groups_create(org: OrgOption, group: GroupOption) -> None:
    """Create a custom security group, holding no role."""
    from xdm_connector.services.organizations import create_group

    with opened_store() as (_settings, store):
        run_command(lambda: create_group(store, org, group, actor=operator()))
        typer.echo(f"security group {group} created")


@groups_app.command("grant")
def groups_grant(org: OrgOption, group: GroupOption, role: RoleOption) -> None:
    """Give a role to a security group (idempotent)."""
    from xdm_connector.services.organizations import grant_role

    with opened_store() as (_settings, store):
        run_command(lambda: grant_role(store, org, group, role, actor=operator()))
        typer.echo(f"role {role} granted to {group}")


@groups_app.command("revoke")
def groups_revoke(org: OrgOption, group: GroupOption, role: RoleOption) -> None:
    """Take a role from a security group (idempotent)."""
    from xdm_connector.services.organizations import revoke_role

    with opened_store() as (_settings, store):
        run_command(lambda: revoke_role(store, org, group, role, actor=operator()))
        typer.echo(f"role {role} revoked from {group}")


@groups_app.command("roles")
def groups_roles(org: OrgOption, group: GroupOption, as_json: JsonOption = False) -> None:
    """List the roles of a security group: name and label."""
    from xdm_connector.security.roles import role

    with opened_store() as (_settings, store):
        held = run_command(lambda: [role(name) for name in store.tenants.group_roles(org, group)])
        print_rows(ROLE_COLUMNS, [(known.name, known.label) for known in held], as_json=as_json)


def audit(
    org: OrgOption,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. grant.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Print the organization's audit trail, newest first: when, who, what, target, details."""
    from xdm_connector.security.audit import audit_trail

    with opened_store() as (_settings, store):
        entries = run_command(lambda: audit_trail(store, org, action))[:limit]
        rows = [
            (entry.at, entry.actor, entry.action, entry.target, entry.details) for entry in entries
        ]
        print_rows(AUDIT_COLUMNS, rows, as_json=as_json)
