"""Data mappings: ``mappings apply|publish|stop|start|unpublish|list|get|log|jobs|preview|
reconcile|delete``,
and ``mappings reference``, the reference of the mapping language."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xdm_connector.cli.common import (
    OrgOption,
    echo_json,
    opened_store,
    operator,
    print_organization_rows,
    run_command,
)
from xdm_connector.cli.tables import Column, JsonOption, print_rows

if TYPE_CHECKING:
    from xdm_connector.services.publication import ScheduleChange

mappings_app = typer.Typer(no_args_is_help=True, help="Data mappings.")

MAPPING_COLUMNS = (
    Column("id", "ID"),
    Column("publicationStatus", "PUBLICATION"),
    Column("executionStatus", "EXECUTION"),
    Column("dataset", "DATASET"),
    Column("label", "LABEL", prose=True),
)
PUBLICATION_COLUMNS = (
    Column("level", "LEVEL"),
    Column("code", "CODE"),
    Column("message", "MESSAGE", prose=True),
)
LOG_COLUMNS = (Column("at", "AT"), *PUBLICATION_COLUMNS)
JOB_COLUMNS = (
    Column("id", "ID"),
    Column("status", "STATUS"),
    Column("trigger", "TRIGGER"),
    Column("recordsRead", "READ"),
    Column("recordsIngested", "INGESTED"),
    Column("recordsRejected", "REJECTED"),
    Column("recordsRefused", "REFUSED"),
    Column("recordsDeleted", "DELETED"),
    Column("batchId", "BATCH ID"),
    Column("reason", "REASON", prose=True),
    Column("cause", "CAUSE", prose=True),
    Column("warnings", "WARNINGS", prose=True),
)


@mappings_app.command("apply")
def mappings_apply(
    org: OrgOption,
    file: Annotated[Path, typer.Argument(help="YAML or JSON mapping definition.")],
) -> None:
    """Create or update a mapping from a file (a published one needs a new publication)."""
    from xdm_connector.domain.mapping_definition import MappingDefinition
    from xdm_connector.services.mappings import apply_mapping

    with opened_store() as (_settings, store):
        definition = run_command(lambda: MappingDefinition.from_file(file))
        saved = run_command(lambda: apply_mapping(store, org, definition, actor=operator()))
        typer.echo(f"mapping {definition.id} {'created' if saved.created else 'updated'}")
        for warning in saved.warnings:
            typer.echo(f"warning: {warning}", err=True)


@mappings_app.command("publish")
def mappings_publish(
    org: OrgOption,
    mapping_id: Annotated[str, typer.Argument(help="Mapping id.")],
    resend: Annotated[bool, typer.Option(help="Resend the records from the beginning.")] = False,
    start: Annotated[bool, typer.Option(help="Start the schedule once published.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Validate and publish a mapping; prints the publication log (exit 1: not published)."""
    from xdm_connector.services.dataset_refresh import CatalogAccess
    from xdm_connector.services.publication import publish_mapping_with
    from xdm_connector.xdm.registry import SchemaRegistry

    with opened_store() as (settings, store):
        # A platform is called as XDMC_RETRY_* and XDMC_PLATFORM_TIMEOUT_SECONDS say.
        access = CatalogAccess.from_settings(settings)
        result = run_command(
            lambda: publish_mapping_with(
                store,
                SchemaRegistry.packaged(),
                org,
                mapping_id,
                access,
                resend=resend,
                start=start,
                actor=operator(),
            )
        )
        rows = [(line.level, line.code, line.message) for line in result.log]
        print_rows(PUBLICATION_COLUMNS, rows, as_json=as_json)
        if not result.published:
            raise typer.Exit(1)


MappingIdArgument = Annotated[str, typer.Argument(help="Mapping id.")]


def _change_lifecycle(org: str, mapping_id: str, change: ScheduleChange) -> None:
    with opened_store() as (_settings, store):
        mapping = run_command(lambda: change(store, org, mapping_id, actor=operator()))
        typer.echo(
            f"mapping {mapping_id}: {mapping.publication_status}, {mapping.execution_status}"
        )


@mappings_app.command("stop")
def mappings_stop(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Stop a published mapping's schedule (it can then be triggered through the API)."""
    from xdm_connector.services.publication import stop_mapping

    _change_lifecycle(org, mapping_id, stop_mapping)


@mappings_app.command("start")
def mappings_start(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Start a published mapping's schedule."""
    from xdm_connector.services.publication import start_mapping

    _change_lifecycle(org, mapping_id, start_mapping)


@mappings_app.command("unpublish")
def mappings_unpublish(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Take a mapping back to Draft."""
    from xdm_connector.services.publication import unpublish_mapping

    _change_lifecycle(org, mapping_id, unpublish_mapping)


@mappings_app.command("list")
def mappings_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """List the mappings: id, publication and execution statuses, dataset, label."""
    print_organization_rows(
        org,
        MAPPING_COLUMNS,
        lambda store: [
            (
                mapping.id,
                mapping.publication_status,
                mapping.execution_status,
                mapping.dataset_id,
                mapping.label,
            )
            for mapping in store.mappings.list_for_org(org)
        ],
        as_json=as_json,
    )


@mappings_app.command("get")
def mappings_get(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Print a mapping: its draft definition, statuses and published definition (JSON)."""
    with opened_store() as (_settings, store):
        mapping = run_command(lambda: store.mappings.get(org, mapping_id))
        published = mapping.published_definition
        echo_json(
            {
                **mapping.definition,
                "label": mapping.label,
                "publicationStatus": mapping.publication_status,
                "executionStatus": mapping.execution_status,
                "nextRunTime": mapping.next_run_at,
                "publishedDefinition": published if published != mapping.definition else None,
                "intervalSeconds": mapping.interval_seconds,
            }
        )


@mappings_app.command("log")
def mappings_log(
    org: OrgOption, mapping_id: MappingIdArgument, as_json: JsonOption = False
) -> None:
    """Print the mapping's publication log, oldest first: time, level, code, message."""
    with opened_store() as (_settings, store):
        rows = [
            (entry.at, entry.level, entry.code, entry.message)
            for entry in run_command(lambda: store.mappings.publication_log(org, mapping_id))
        ]
        print_rows(LOG_COLUMNS, rows, as_json=as_json)


@mappings_app.command("jobs")
def mappings_jobs(
    org: OrgOption,
    mapping_id: MappingIdArgument,
    limit: Annotated[int, typer.Option(help="How many jobs, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Print the mapping's export jobs, newest first: id, status, trigger, records read,
    ingested, rejected by the product, refused by the platform and deleted, batch id,
    reason, and a failed job's cause in words."""
    from xdm_connector.services.job_history import failure_cause

    with opened_store() as (_settings, store):
        run_command(lambda: store.mappings.get(org, mapping_id))
        rows = [
            (
                job.request_id,
                job.state,
                job.trigger,
                job.records_read,
                job.records_ingested,
                job.records_rejected,
                job.records_refused,
                job.records_deleted,
                job.batch_id,
                job.reason,
                failure_cause(job),
                "; ".join((job.details or {}).get("warnings") or []),
            )
            for job in store.jobs.list_for_mapping(org, mapping_id, limit=limit)
        ]
        print_rows(JOB_COLUMNS, rows, as_json=as_json)


@mappings_app.command("preview")
def mappings_preview(
    org: OrgOption,
    mapping_id: MappingIdArgument,
    limit: Annotated[int, typer.Option(help="Source rows to read (1 to 100).")] = 10,
    published: Annotated[
        bool, typer.Option("--published", help="Preview the published definition.")
    ] = False,
) -> None:
    """A dry run: the first records of the mapping's draft, each with its errors (JSON).

    Nothing is exported and the watermark is untouched.
    """
    from xdm_connector.pipeline.preview import preview_mapping
    from xdm_connector.xdm.registry import SchemaRegistry

    with opened_store() as (_settings, store):
        preview = run_command(
            lambda: preview_mapping(
                store,
                SchemaRegistry.packaged(),
                org,
                mapping_id,
                limit=limit,
                use_draft=not published,
            )
        )
        echo_json(preview.document())


@mappings_app.command("reconcile")
def mappings_reconcile(
    org: OrgOption,
    mapping_id: MappingIdArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the differences only, change nothing.")
    ] = False,
) -> None:
    """Compare what the mapping delivered (its lake table, or its records at the platform)
    with its whole source, key by key, and report the differences (JSON: missing,
    differing, neverDelivered); without --dry-run, request a job that repairs them (deletes
    and records again), run by a worker."""
    from xdm_connector.domain.job_states import JobTrigger
    from xdm_connector.pipeline.reconciliation import compare_mapping

    with opened_store() as (settings, store):
        found = run_command(lambda: compare_mapping(store, settings, org, mapping_id))
        report: dict[str, object] = {**found.document(), "dryRun": dry_run}
        if not dry_run:
            request = run_command(
                lambda: store.jobs.request_ingestion(org, mapping_id, JobTrigger.RECONCILE)
            )
            report["requestId"] = request.job.request_id
        echo_json(report)


@mappings_app.command("delete")
def mappings_delete(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Delete a draft mapping with its log and jobs."""
    from xdm_connector.services.mappings import delete_mapping

    with opened_store() as (_settings, store):
        run_command(lambda: delete_mapping(store, org, mapping_id, actor=operator()))
        typer.echo(f"mapping {mapping_id} deleted")


@mappings_app.command("reference")
def mappings_reference() -> None:
    """Print the reference of the mapping language and of mapping files (Markdown)."""
    from xdm_connector.mappings.reference import mapping_language_reference

    typer.echo(mapping_language_reference(), nl=False)
