"""The local data lake: ``lake query`` (SQL over a dataset) and ``lake clean``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from xdm_connector.cli.common import OrgOption, opened_store, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows
from xdm_connector.settings import Settings

lake_app = typer.Typer(no_args_is_help=True, help="The local data lake.")

ONE_DAY_SECONDS = 86_400
ABORTED_BATCH_COLUMNS = (
    Column("id", "ID"),
    Column("org", "ORG"),
    Column("dataset", "DATASET"),
    Column("batchKey", "BATCH KEY"),
    Column("lastActivity", "LAST ACTIVITY"),
)


@lake_app.command("query")
def lake_query(
    org: OrgOption,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset id.")],
    sql: Annotated[str, typer.Argument(help="SQL; the dataset is a view named after it.")],
    as_json: JsonOption = False,
) -> None:
    """Query a dataset of the lake with DuckDB (committed batches only): a table of the
    columns it answers."""
    from xdm_connector.destinations.lake import LakeDestination
    from xdm_connector.destinations.lake_query import query_dataset

    lake = LakeDestination(Settings().lake_root)
    result = run_command(lambda: query_dataset(lake, org, dataset, sql))
    columns = [Column(name, name) for name in result.columns]
    print_rows(columns, result.rows, as_json=as_json)


@lake_app.command("clean")
def lake_clean(
    older_than: Annotated[
        int,
        typer.Option(
            "--older-than",
            min=0,
            help="Abort batches left loading (no new file) for longer than this, in seconds.",
        ),
    ] = ONE_DAY_SECONDS,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organization's batches.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Abort the batches a dead worker left loading, dropping their staging files, and
    remove the work folders that jobs no longer in progress left on this machine.

    Prints the batches aborted (id, organization, dataset, batch key, last activity), and
    on standard error their count and the work folders' count; a batch that a job in
    progress may still write, or its work folder, is never touched.
    """
    from xdm_connector.destinations.lake import LakeDestination
    from xdm_connector.destinations.lake_cleaning import clean_lake, clean_work_folders
    from xdm_connector.pipeline.workfolders import WorkFolders

    with opened_store() as (settings, store):
        lake = LakeDestination(settings.lake_root)
        age = dt.timedelta(seconds=older_than)
        aborted = run_command(lambda: clean_lake(lake, store, older_than=age, org=org))
        folders = WorkFolders(settings.home)
        removed = run_command(lambda: clean_work_folders(folders, store, org=org))
    rows = [
        (batch.id, batch.org, batch.dataset, batch.batch_key, batch.last_activity)
        for batch in aborted
    ]
    print_rows(ABORTED_BATCH_COLUMNS, rows, as_json=as_json)
    plural = "" if len(aborted) == 1 else "es"
    typer.echo(f"{len(aborted)} loading batch{plural} aborted", err=True)
    plural = "" if len(removed) == 1 else "s"
    typer.echo(f"{len(removed)} work folder{plural} of ended jobs removed", err=True)
