"""The lake's commands: ``query`` (SQL over a dataset, as of a version), ``history``,
``optimize``, ``vacuum``, ``migrate`` (batch folders into Delta tables) and ``clean``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xdm_connector.cli.common import OrgOption, opened_store, run_command
from xdm_connector.cli.tables import Column, JsonOption, print_rows

if TYPE_CHECKING:
    from xdm_connector.destinations.lake_maintenance import TableUpkeep
    from xdm_connector.destinations.lake_tables import LakeTables
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

lake_app = typer.Typer(no_args_is_help=True, help="The lake: a Delta table per dataset.")

ONE_DAY_SECONDS = 86_400
ABORTED_BATCH_COLUMNS = (
    Column("id", "ID"),
    Column("org", "ORG"),
    Column("dataset", "DATASET"),
    Column("batchKey", "BATCH KEY"),
    Column("lastActivity", "LAST ACTIVITY"),
)


def lake_of(settings: Settings, store: Store, org: str | None) -> LakeTables:
    """The lake of an organization's datasets (the installation's, without one)."""
    from xdm_connector.destinations.factory import OrgDestinations

    return OrgDestinations(store, settings).lake(org)


@lake_app.command("query")
def lake_query(
    org: OrgOption,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset id.")],
    sql: Annotated[str, typer.Argument(help="SQL; the dataset is a view named after it.")],
    version: Annotated[
        int | None, typer.Option("--version", min=0, help="Query the table as of this version.")
    ] = None,
    as_of_request: Annotated[
        int | None,
        typer.Option(
            "--as-of-request", min=1, help="Query the table as the request's commit left it."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Query a dataset of the lake with DuckDB (committed records only, offline): a table
    of the columns it answers."""
    from xdm_connector.destinations.lake_history import version_of_request
    from xdm_connector.destinations.lake_query import query_dataset

    if version is not None and as_of_request is not None:
        raise typer.BadParameter("give --version or --as-of-request, not both")
    with opened_store() as (settings, store):
        lake = run_command(lambda: lake_of(settings, store, org))
        if as_of_request is not None:
            request = as_of_request
            version = run_command(lambda: version_of_request(lake, store, org, dataset, request))
        result = run_command(lambda: query_dataset(lake, org, dataset, sql, version=version))
    columns = [Column(name, name) for name in result.columns]
    print_rows(columns, result.rows, as_json=as_json)


HISTORY_COLUMNS = (
    Column("version", "VERSION"),
    Column("timestamp", "TIMESTAMP"),
    Column("operation", "OPERATION"),
    Column("requestId", "REQUEST"),
    Column("jobId", "JOB"),
    Column("mappingId", "MAPPING"),
    Column("rows", "ROWS"),
)


@lake_app.command("history")
def lake_history(
    org: OrgOption,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset id.")],
    as_json: JsonOption = False,
) -> None:
    """The versions of a dataset's table, newest first: each with the request and job that
    committed it (none for maintenance)."""
    from xdm_connector.destinations.lake_history import table_history

    with opened_store() as (settings, store):
        lake = run_command(lambda: lake_of(settings, store, org))
        versions = run_command(lambda: table_history(lake, store, org, dataset))
    documents = [version.document() for version in versions]
    rows = [tuple(document[c.key] for c in HISTORY_COLUMNS) for document in documents]
    print_rows(HISTORY_COLUMNS, rows, as_json=as_json)


UPKEEP_COLUMNS = (
    Column("org", "ORG"),
    Column("dataset", "DATASET"),
    Column("operation", "OPERATION"),
    Column("filesAdded", "FILES ADDED"),
    Column("filesRemoved", "FILES REMOVED"),
    Column("version", "VERSION"),
)
DatasetOption = Annotated[
    str | None, typer.Option("--dataset", help="Only this dataset's table (needs --org).")
]
EveryOrgOption = Annotated[
    str | None, typer.Option("--org", help="Only this organization's tables (default: all).")
]


def _print_upkeep(done: list[TableUpkeep], as_json: bool) -> None:
    documents = [upkeep.document() for upkeep in done]
    rows = [tuple(document[c.key] for c in UPKEEP_COLUMNS) for document in documents]
    print_rows(UPKEEP_COLUMNS, rows, as_json=as_json)


@lake_app.command("optimize")
def lake_optimize(
    org: EveryOrgOption = None, dataset: DatasetOption = None, as_json: JsonOption = False
) -> None:
    """Compact the small files of the tables (one dataset's, an organization's, or every
    one on the lake) into large ones, each table in one commit; safe while jobs run."""
    from xdm_connector.destinations.factory import OrgDestinations
    from xdm_connector.destinations.lake_maintenance import LakeMaintenance

    with opened_store() as (settings, store):
        maintenance = LakeMaintenance(OrgDestinations(store, settings))
        done = run_command(lambda: maintenance.optimize(org=org, dataset=dataset))
    _print_upkeep(done, as_json)


@lake_app.command("vacuum")
def lake_vacuum(
    retain_hours: Annotated[
        int,
        typer.Option(
            "--retain-hours",
            min=0,
            help="Delete the files that commits removed longer ago than this.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Accept a retention below the table's own (7 days by default): versions "
            "younger than it can then no longer be read.",
        ),
    ] = False,
    org: EveryOrgOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the files no version younger than --retain-hours references (those that
    optimize, merges and withdrawals removed); never a file of a batch not yet committed."""
    from xdm_connector.destinations.factory import OrgDestinations
    from xdm_connector.destinations.lake_maintenance import LakeMaintenance

    with opened_store() as (settings, store):
        maintenance = LakeMaintenance(OrgDestinations(store, settings))
        done = run_command(
            lambda: maintenance.vacuum(
                retain_hours=retain_hours, force=force, org=org, dataset=dataset
            )
        )
    _print_upkeep(done, as_json)


MIGRATED_COLUMNS = (
    Column("org", "ORG"),
    Column("dataset", "DATASET"),
    Column("batchId", "BATCH"),
    Column("requestId", "REQUEST"),
    Column("jobId", "JOB"),
    Column("rows", "ROWS"),
    Column("version", "VERSION"),
    Column("skipped", "SKIPPED"),
)


@lake_app.command("migrate")
def lake_migrate(
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="The lake of batch folders (default: the local lake, XDMC_LAKE_PATH).",
        ),
    ] = None,
    org: EveryOrgOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a lake of batch folders (<org>/<dataset>/batch=<id>/ and _manifest.json) into
    Delta tables, one commit per batch in the manifest's order, with each batch's job and
    request; the source database is not read. Running it again changes nothing."""
    from xdm_connector.destinations.factory import OrgDestinations
    from xdm_connector.services.lake_migration import migrate_lake

    with opened_store() as (settings, store):
        root = (source or settings.lake_root).resolve()
        destinations = OrgDestinations(store, settings)
        migrated = run_command(lambda: migrate_lake(root, destinations, org=org, dataset=dataset))
    documents = [batch.document() for batch in migrated]
    rows = [tuple(document[c.key] for c in MIGRATED_COLUMNS) for document in documents]
    print_rows(MIGRATED_COLUMNS, rows, as_json=as_json)
    done = sum(not batch.skipped for batch in migrated)
    typer.echo(f"{done} batches committed, {len(migrated) - done} already there", err=True)


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
    """Abort the batches a dead worker left loading, dropping their staging files, remove
    the files an upsert killed while rewriting left that no table version references, and
    the work folders that jobs no longer in progress left on this machine.

    Prints the batches aborted (id, organization, dataset, batch key, last activity), and
    on standard error their count, the stray rewrites' count and the work folders' count; a
    batch that a job in progress may still write, or its work folder, is never touched.
    """
    from xdm_connector.pipeline.workfolders import WorkFolders
    from xdm_connector.services.lake_cleaning import (
        clean_lake,
        clean_stray_rewrites,
        clean_work_folders,
    )

    with opened_store() as (settings, store):
        lake = run_command(lambda: lake_of(settings, store, org))
        age = dt.timedelta(seconds=older_than)
        aborted = run_command(lambda: clean_lake(lake, store, older_than=age, org=org))
        # After the aborts: a batch found committed meanwhile is settled, its strays found.
        strays = run_command(lambda: clean_stray_rewrites(lake, store, org=org))
        folders = WorkFolders(settings.home)
        removed = run_command(lambda: clean_work_folders(folders, store, org=org))
    rows = [
        (batch.id, batch.org, batch.dataset, batch.batch_key, batch.last_activity)
        for batch in aborted
    ]
    print_rows(ABORTED_BATCH_COLUMNS, rows, as_json=as_json)
    plural = "" if len(aborted) == 1 else "es"
    typer.echo(f"{len(aborted)} loading batch{plural} aborted", err=True)
    plural = "" if len(strays) == 1 else "s"
    typer.echo(f"{len(strays)} stray rewrite file{plural} removed", err=True)
    plural = "" if len(removed) == 1 else "s"
    typer.echo(f"{len(removed)} work folder{plural} of ended jobs removed", err=True)
