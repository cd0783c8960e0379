"""The ``xdm-connector`` command line: the same verbs as the API, for operators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from xdm_connector import logs
from xdm_connector.errors import XdmcError
from xdm_connector.platform.commands import platform_app
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

app = typer.Typer(
    no_args_is_help=True,
    help="xdm-connector: relational records into XDM datasets.",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help="The metadata store.")
orgs_app = typer.Typer(no_args_is_help=True, help="Organizations (tenants).")
groups_app = typer.Typer(no_args_is_help=True, help="Security groups and their roles.")
integrations_app = typer.Typer(no_args_is_help=True, help="API clients of an organization.")
datasets_app = typer.Typer(no_args_is_help=True, help="Destination datasets and their XDM schemas.")
mappings_app = typer.Typer(no_args_is_help=True, help="Data mappings.")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(groups_app, name="groups")
app.add_typer(integrations_app, name="integrations")
app.add_typer(datasets_app, name="datasets")
app.add_typer(mappings_app, name="mappings")
lake_app = typer.Typer(no_args_is_help=True, help="The local data lake.")
app.add_typer(lake_app, name="lake")
app.add_typer(platform_app, name="platform")

OrgOption = Annotated[str, typer.Option("--org", help="The organization.")]
T = TypeVar("T")


def main() -> None:
    """Entry point of the ``xdm-connector`` command."""
    app()


def configure_logging(settings: Settings) -> None:
    """Logs to standard error, one line per event (JSON unless ``XDMC_LOG_FORMAT=text``)."""
    logs.configure_logging(settings.log_level, settings.log_format)


@contextmanager
def opened_store() -> Iterator[tuple[Settings, Store]]:
    """The settings and a migrated store, closed after the command; errors exit 1."""
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    try:
        store.upgrade()
        yield settings, store
    finally:
        store.close()


def run_command(action: Callable[[], T]) -> T:
    """Run ``action``; a product error becomes ``error: CODE message`` and exit status 1."""
    try:
        return action()
    except XdmcError as exc:
        typer.echo(f"error: {exc.code} {exc.message}", err=True)
        raise typer.Exit(1) from exc


def echo_json(document: Any) -> None:
    """Print a JSON document on standard output."""
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[bool, typer.Option(help="Run the embedded worker too.")] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            help="Server processes sharing the port (default XDMC_API_PROCESSES, 1); "
            "one per core serves the most. Each runs its own embedded worker.",
        ),
    ] = None,
) -> None:
    """Serve the API (and, by default, run an embedded worker)."""
    import uvicorn

    from xdm_connector.app import create_app

    overrides: dict[str, Any] = {"embedded_worker": worker}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if processes is not None:
        overrides["api_processes"] = processes
    settings = Settings(**overrides)
    configure_logging(settings)
    host, port = settings.host, settings.port
    # Access logs are off: a line per request costs more than a short request itself.
    if settings.api_processes == 1:
        service = create_app(settings)
        uvicorn.run(service, host=host, port=port, log_level="warning", access_log=False)
        return
    # Each process builds its settings from the environment: hand it the options given here.
    _export_settings(settings)
    uvicorn.run(
        "xdm_connector.app:create_app_from_environment",
        factory=True,
        workers=settings.api_processes,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


def _export_settings(settings: Settings) -> None:
    """Put ``serve``'s options in the environment its server processes read."""
    import os

    os.environ["XDMC_EMBEDDED_WORKER"] = "true" if settings.embedded_worker else "false"
    os.environ["XDMC_HOST"] = settings.host
    os.environ["XDMC_PORT"] = str(settings.port)


@app.command("worker")
def run_worker() -> None:
    """Run a worker (and scheduler) alone, until interrupted."""
    import signal

    from xdm_connector.jobs.worker import Worker

    with opened_store() as (settings, store):
        configure_logging(settings)
        worker = Worker(store, settings)
        signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
        try:
            worker.run()
        except KeyboardInterrupt:
            worker.request_stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the metadata store's migrations."""
    with opened_store() as (settings, _store):
        typer.echo(f"metadata store up to date: {_safe_url(settings.store_url)}")


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
    from xdm_connector.organizations import create_organization

    with opened_store() as (_settings, store):
        run_command(lambda: create_organization(store, org, source_url))
        typer.echo(f"organization {org} created")


@orgs_app.command("list")
def orgs_list() -> None:
    """List the organizations and their source URLs (passwords masked)."""
    from xdm_connector.organizations import organization_summaries

    with opened_store() as (_settings, store):
        for org_id, source_url in organization_summaries(store):
            typer.echo(f"{org_id}\t{source_url}")


GroupOption = Annotated[str, typer.Option("--group", help="Security group name.")]
RoleOption = Annotated[str, typer.Option("--role", help="Role: administration or sql.")]
ClientIdArgument = Annotated[str, typer.Argument(help="The integration's client id.")]


def _operator() -> str:
    from xdm_connector.security.audit import operator_actor

    return operator_actor()


@groups_app.command("list")
def groups_list(org: OrgOption) -> None:
    """List the security groups and their roles."""
    from xdm_connector.organizations import list_groups

    with opened_store() as (_settings, store):
        for group in run_command(lambda: list_groups(store, org)):
            typer.echo(f"{group.name}\t{','.join(group.roles)}")


@groups_app.command("create")
def groups_create(org: OrgOption, group: GroupOption) -> None:
    """Create a custom security group, holding no role."""
    from xdm_connector.organizations import create_group

    with opened_store() as (_settings, store):
        run_command(lambda: create_group(store, org, group, actor=_operator()))
        typer.echo(f"security group {group} created")


@groups_app.command("grant")
def groups_grant(org: OrgOption, group: GroupOption, role: RoleOption) -> None:
    """Give a role to a security group (idempotent)."""
    from xdm_connector.organizations import grant_role

    with opened_store() as (_settings, store):
        run_command(lambda: grant_role(store, org, group, role, actor=_operator()))
        typer.echo(f"role {role} granted to {group}")


@groups_app.command("revoke")
def groups_revoke(org: OrgOption, group: GroupOption, role: RoleOption) -> None:
    """Take a role from a security group (idempotent)."""
    from xdm_connector.organizations import revoke_role

    with opened_store() as (_settings, store):
        run_command(lambda: revoke_role(store, org, group, role, actor=_operator()))
        typer.echo(f"role {role} revoked from {group}")


@groups_app.command("roles")
def groups_roles(org: OrgOption, group: GroupOption) -> None:
    """List the roles of a security group."""
    with opened_store() as (_settings, store):
        for role in run_command(lambda: store.tenants.group_roles(org, group)):
            typer.echo(role)


@integrations_app.command("create")
def integrations_create(
    org: OrgOption,
    group: Annotated[list[str], typer.Option("--group", help="Security group (repeatable).")],
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "integration",
) -> None:
    """Create an API client; prints its client id and secret (shown only once)."""
    from xdm_connector.security.credentials import create_integration

    with opened_store() as (_settings, store):
        credentials = run_command(
            lambda: create_integration(store, org, groups=group, name=name, actor=_operator())
        )
        echo_json({"client_id": credentials.client_id, "client_secret": credentials.client_secret})


@integrations_app.command("list")
def integrations_list(org: OrgOption) -> None:
    """List the API clients: client id, name, groups (never a secret)."""
    from xdm_connector.security.credentials import list_integrations

    with opened_store() as (_settings, store):
        for info in run_command(lambda: list_integrations(store, org)):
            typer.echo(f"{info.client_id}\t{info.name}\t{','.join(info.groups)}")


@integrations_app.command("rotate")
def integrations_rotate(org: OrgOption, client_id: ClientIdArgument) -> None:
    """Give an API client a new secret (printed once); its tokens stop working at once."""
    from xdm_connector.security.credentials import rotate_integration

    with opened_store() as (_settings, store):
        credentials = run_command(
            lambda: rotate_integration(store, org, client_id, actor=_operator())
        )
        echo_json({"client_id": credentials.client_id, "client_secret": credentials.client_secret})


@integrations_app.command("delete")
def integrations_delete(org: OrgOption, client_id: ClientIdArgument) -> None:
    """Delete an API client; its tokens stop working at once."""
    from xdm_connector.security.credentials import delete_integration

    with opened_store() as (_settings, store):
        run_command(lambda: delete_integration(store, org, client_id, actor=_operator()))
        typer.echo(f"integration {client_id} deleted")


@app.command("audit")
def audit(
    org: OrgOption,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. grant.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 50,
) -> None:
    """Print the organization's audit trail, newest first: when, who, what, target."""
    from xdm_connector.security.audit import audit_trail

    with opened_store() as (_settings, store):
        for entry in run_command(lambda: audit_trail(store, org, action))[:limit]:
            details = orjson.dumps(entry.details).decode() if entry.details else ""
            line = f"{entry.at.isoformat()}\t{entry.actor}\t{entry.action}\t{entry.target}"
            typer.echo(f"{line}\t{details}".rstrip("\t"))


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
) -> None:
    """Create a dataset from an XDM class, field groups and the tenant's own fields."""
    from xdm_connector.mappings.datasets import create_dataset
    from xdm_connector.xdm.registry import SchemaRegistry

    refs = [part.strip() for value in schema for part in value.split(",") if part.strip()]
    if not refs:
        typer.echo("error: --schema needs at least the XDM class", err=True)
        raise typer.Exit(2)
    custom_fields = run_command(lambda: _read_json_object(custom)) if custom else None
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
            )
        )
        typer.echo(f"dataset {dataset_id} created")


@datasets_app.command("list")
def datasets_list(org: OrgOption) -> None:
    """List the datasets: id, class, field groups (one line each)."""
    with opened_store() as (_settings, store):
        run_command(lambda: store.tenants.get_organization(org))
        for dataset in store.tenants.list_datasets(org):
            spec = dataset.schema_spec
            typer.echo(f"{dataset.id}\t{spec['class']}\t{','.join(spec.get('fieldGroups', []))}")


@datasets_app.command("get")
def datasets_get(
    org: OrgOption, dataset_id: Annotated[str, typer.Argument(help="Dataset id.")]
) -> None:
    """Print a dataset with its schema resolved to XED JSON schema, as the API answers it."""
    from xdm_connector.mappings.datasets import dataset_schema
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
                "schema": schema.json_schema,
            }
        )


@mappings_app.command("apply")
def mappings_apply(
    org: OrgOption,
    file: Annotated[Path, typer.Argument(help="YAML or JSON mapping definition.")],
) -> None:
    """Create or update a mapping from a file (a published one needs a new publication)."""
    from xdm_connector.mappings.definition import MappingDefinition
    from xdm_connector.mappings.service import apply_mapping

    with opened_store() as (_settings, store):
        definition = run_command(lambda: MappingDefinition.from_file(file))
        saved = run_command(lambda: apply_mapping(store, org, definition))
        typer.echo(f"mapping {definition.id} {'created' if saved.created else 'updated'}")
        for warning in saved.warnings:
            typer.echo(f"warning: {warning}", err=True)


@mappings_app.command("publish")
def mappings_publish(
    org: OrgOption,
    mapping_id: Annotated[str, typer.Argument(help="Mapping id.")],
    resend: Annotated[bool, typer.Option(help="Resend the records from the beginning.")] = False,
    start: Annotated[bool, typer.Option(help="Start the schedule once published.")] = True,
) -> None:
    """Validate and publish a mapping; prints the publication log."""
    from xdm_connector.mappings.service import publish_mapping
    from xdm_connector.xdm.registry import SchemaRegistry

    with opened_store() as (_settings, store):
        result = run_command(
            lambda: publish_mapping(
                store, SchemaRegistry.packaged(), org, mapping_id, resend=resend, start=start
            )
        )
        for line in result.log:
            typer.echo(f"{line.code} {line.message}")
        if not result.published:
            raise typer.Exit(1)


MappingIdArgument = Annotated[str, typer.Argument(help="Mapping id.")]


def _change_lifecycle(org: str, mapping_id: str, action: Callable[[Store, str, str], Any]) -> None:
    with opened_store() as (_settings, store):
        mapping = run_command(lambda: action(store, org, mapping_id))
        typer.echo(
            f"mapping {mapping_id}: {mapping.publication_status}, {mapping.execution_status}"
        )


@mappings_app.command("stop")
def mappings_stop(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Stop a published mapping's schedule (it can then be triggered through the API)."""
    from xdm_connector.mappings.service import stop_mapping

    _change_lifecycle(org, mapping_id, stop_mapping)


@mappings_app.command("start")
def mappings_start(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Start a published mapping's schedule."""
    from xdm_connector.mappings.service import start_mapping

    _change_lifecycle(org, mapping_id, start_mapping)


@mappings_app.command("unpublish")
def mappings_unpublish(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Take a mapping back to Draft."""
    from xdm_connector.mappings.service import unpublish_mapping

    _change_lifecycle(org, mapping_id, unpublish_mapping)


@mappings_app.command("list")
def mappings_list(org: OrgOption) -> None:
    """List the mappings: id, statuses, dataset, label (one line each)."""
    with opened_store() as (_settings, store):
        run_command(lambda: store.tenants.get_organization(org))
        for mapping in store.mappings.list_for_org(org):
            typer.echo(
                f"{mapping.id}\t{mapping.publication_status}\t{mapping.execution_status}"
                f"\t{mapping.dataset_id}\t{mapping.label}"
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
def mappings_log(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Print the mapping's publication log, oldest first: time, level, code, message."""
    with opened_store() as (_settings, store):
        for entry in run_command(lambda: store.mappings.publication_log(org, mapping_id)):
            typer.echo(f"{entry.at.isoformat()}\t{entry.level}\t{entry.code}\t{entry.message}")


@mappings_app.command("jobs")
def mappings_jobs(
    org: OrgOption,
    mapping_id: MappingIdArgument,
    limit: Annotated[int, typer.Option(help="How many jobs, newest first.")] = 50,
) -> None:
    """Print the mapping's export jobs: id, status, trigger, records read/ingested/rejected,
    batch id, reason (one line each, newest first)."""
    with opened_store() as (_settings, store):
        run_command(lambda: store.mappings.get(org, mapping_id))
        for job in store.jobs.list_for_mapping(org, mapping_id, limit=limit):
            counts = f"{job.records_read}/{job.records_ingested}/{job.records_rejected}"
            typer.echo(
                f"{job.id}\t{job.state}\t{job.trigger}\t{counts}\t{job.batch_id}\t{job.reason}"
            )


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


@mappings_app.command("delete")
def mappings_delete(org: OrgOption, mapping_id: MappingIdArgument) -> None:
    """Delete a draft mapping with its log and jobs."""
    from xdm_connector.mappings.service import delete_mapping

    with opened_store() as (_settings, store):
        run_command(lambda: delete_mapping(store, org, mapping_id))
        typer.echo(f"mapping {mapping_id} deleted")


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
    """Set where an organization's jobs deliver: the lake or a platform (README)."""
    from xdm_connector.destinations.config import destination_document, set_destination

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
        chosen = run_command(lambda: set_destination(store, org, document))
        echo_json(destination_document(chosen))


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


@app.command()
def demo() -> None:
    """Prepare the demo (idempotent): source, organization, dataset, mapping, credentials."""
    from xdm_connector.demo.setup import prepare_demo, walkthrough

    with opened_store() as (settings, store):
        credentials = run_command(lambda: prepare_demo(settings, store))
        typer.echo(walkthrough(settings, credentials))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file; ``InvalidInput`` when it is not one."""
    from xdm_connector.errors import InvalidInput

    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read a JSON object from {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{path} must hold a JSON object")
    return document
