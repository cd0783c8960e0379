"""Destination datasets and their XDM schemas: ``datasets create|list|get``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xdm_connector.cli.common import (
    OrgOption,
    echo_json,
    opened_store,
    operator,
    print_organization_rows,
    read_json_object,
    run_command,
)
from xdm_connector.cli.tables import Column, JsonOption

datasets_app = typer.Typer(no_args_is_help=True, help="Destination datasets and their XDM schemas.")

DATASET_COLUMNS = (
    Column("id", "ID"),
    Column("class", "CLASS"),
    Column("fieldGroups", "FIELD GROUPS", prose=True),
    Column("lakeMode", "LAKE MODE"),
)


@datasets_app.command("create")
def datasets_create(
    org: OrgOption,
    dataset_id: Annotated[str, typer.Option("--id", help="Dataset id.")],
    schema: Annotated[
        list[str],
        typer.Option(
            "--schema",
            help="The XDM class, then field groups: ids or short names, repeated or comma-separated.",
        ),
    ],
    custom: Annotated[
        Path | None,
        typer.Option(
            "--custom",
            help="A JSON file of the tenant's own fields: JSON-schema properties placed under /_customer.",
        ),
    ] = None,
    lake_mode: Annotated[
        str | None,
        typer.Option(
            "--lake-mode",
            help="How the lake keeps its records: append (every version) or upsert (the "
            "latest per _id); by default upsert for a record class, append for time-series.",
        ),
    ] = None,
) -> None:
    """Create a dataset from an XDM class, field groups and the tenant's own fields."""
    from xdm_connector.domain.lake_modes import parse_lake_mode
    from xdm_connector.services.datasets import create_dataset
    from xdm_connector.xdm.registry import SchemaRegistry

    refs = [part.strip() for value in schema for part in value.split(",") if part.strip()]
    if not refs:
        typer.echo("error: --schema needs at least the XDM class", err=True)
        raise typer.Exit(2)
    custom_fields = run_command(lambda: read_json_object(custom)) if custom else None
    mode = run_command(lambda: parse_lake_mode(lake_mode)) if lake_mode else None
    with opened_store() as (_settings, store):
        run_command(
            lambda: create_dataset(
                store,
                SchemaRegistry.packaged(),
                org,
                dataset_id,
                class_ref=refs[0],
                field_groups=refs[1:],
                custom=custom_fields,
                actor=operator(),
                lake_mode=mode,
            )
        )
        typer.echo(f"dataset {dataset_id} created")


@datasets_app.command("list")
def datasets_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """List the datasets: id, XDM class, field groups."""
    print_organization_rows(
        org,
        DATASET_COLUMNS,
        lambda store: [
            (
                dataset.id,
                dataset.schema_spec["class"],
                dataset.schema_spec.get("fieldGroups", []),
                dataset.lake_mode,
            )
            for dataset in store.tenants.list_datasets(org)
        ],
        as_json=as_json,
    )


@datasets_app.command("get")
def datasets_get(
    org: OrgOption, dataset_id: Annotated[str, typer.Argument(help="Dataset id.")]
) -> None:
    """Print a dataset with its schema resolved to XED JSON schema, as the API answers it."""
    from xdm_connector.xdm.dataset_spec import dataset_schema
    from xdm_connector.xdm.registry import SchemaRegistry

    with opened_store() as (_settings, store):
        dataset = run_command(lambda: store.tenants.get_dataset(org, dataset_id))
        spec = dataset.schema_spec
        schema = run_command(lambda: dataset_schema(SchemaRegistry.packaged(), spec))
        echo_json(
            {
                "id": dataset.id,
                "class": spec["class"],
                "fieldGroups": spec.get("fieldGroups", []),
                "custom": spec.get("custom"),
                "lakeMode": dataset.lake_mode,
                "schema": schema.json_schema,
            }
        )
