"""The local data lake: ``lake query`` (SQL over a dataset) and ``lake clean``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
import typer

from xdm_connector.cli.common import OrgOption, opened_store, run_command
from xdm_connector.settings import Settings

lake_app = typer.Typer(no_args_is_help=True, help="The local data lake.")

ONE_DAY_SECONDS = 86_400


@lake_app.command("query")
def lake_query(
    org: OrgOption,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset id.")],
    sql: Annotated[str, typer.Argument(help="SQL; the dataset is a view named after it.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """Query a dataset of the lake with DuckDB (committed batches only)."""
    from xdm_connector.destinations.lake import LakeDestination
    from xdm_connector.destinations.lake_query import query_dataset

    lake = LakeDestination(Settings().lake_root)
    result = run_command(lambda: query_dataset(lake, org, dataset, sql))
    if as_json:
        for record in result.records():
            typer.echo(orjson.dumps(record, default=str).decode())
        return
    typer.echo("\t".join(result.columns))
    for row in result.rows:
        typer.echo("\t".join("" if value is None else str(value) for value in row))


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
) -> None:
    """Abort the batches a dead worker left loading, dropping their staging files.

    Prints one line per batch aborted (id, organization, dataset, batch key, last
    activity); a batch that a job in progress may still write is never touched.
    """
    from xdm_connector.destinations.lake import LakeDestination
    from xdm_connector.destinations.lake_cleaning import clean_lake

    with opened_store() as (settings, store):
        lake = LakeDestination(settings.lake_root)
        age = dt.timedelta(seconds=older_than)
        aborted = run_command(lambda: clean_lake(lake, store, older_than=age, org=org))
    for batch in aborted:
        activity = batch.last_activity.isoformat(timespec="seconds")
        typer.echo(f"{batch.id}\t{batch.org}\t{batch.dataset}\t{batch.batch_key}\t{activity}")
    plural = "" if len(aborted) == 1 else "es"
    typer.echo(f"{len(aborted)} loading batch{plural} aborted", err=True)
