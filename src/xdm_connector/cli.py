"""The ``xdm-connector`` command line: the same verbs as the API, for operators."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from xdm_connector.errors import XdmcError
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

OrgOption = Annotated[str, typer.Option("--org", help="The organization.")]
T = TypeVar("T")


def main() -> None:
    """Entry point of the ``xdm-connector`` command."""
    app()


def configure_logging(settings: Settings) -> None:
    """Logs to standard error, one line per event."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


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
) -> None:
    """Serve the API (and, by default, run an embedded worker)."""
    import uvicorn

    from xdm_connector.app import create_app

    overrides: dict[str, Any] = {"embedded_worker": worker}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


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
        str, typer.Option("--source-url", help="SQLAlchemy URL of its source database.")
    ],
) -> None:
    """Create an organization with its default security groups."""
    from xdm_connector.organizations import create_organization

    with opened_store() as (_settings, store):
        run_command(lambda: create_organization(store, org, source_url))
        typer.echo(f"organization {org} created")


@orgs_app.command("list")
def orgs_list() -> None:
    """List the organizations."""
    with opened_store() as (_settings, store):
        for organization in store.tenants.list_organizations():
            typer.echo(organization.id)


@groups_app.command("grant")
def groups_grant(
    org: OrgOption,
    group: Annotated[str, typer.Option("--group", help="Security group name.")],
    role: Annotated[str, typer.Option("--role", help="Role: administration or sql.")],
) -> None:
    """Give a role to a security group (idempotent)."""
    from xdm_connector.organizations import grant_role

    with opened_store() as (_settings, store):
        run_command(lambda: grant_role(store, org, group, role))
        typer.echo(f"role {role} granted to {group}")


@groups_app.command("roles")
def groups_roles(
    org: OrgOption, group: Annotated[str, typer.Option("--group", help="Security group name.")]
) -> None:
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
        credentials = run_command(lambda: create_integration(store, org, groups=group, name=name))
        echo_json({"client_id": credentials.client_id, "client_secret": credentials.client_secret})


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
) -> None:
    """Create a dataset from an XDM class and field groups."""
    from xdm_connector.mappings.datasets import create_dataset
    from xdm_connector.xdm.registry import SchemaRegistry

    refs = [part.strip() for value in schema for part in value.split(",") if part.strip()]
    if not refs:
        typer.echo("error: --schema needs at least the XDM class", err=True)
        raise typer.Exit(2)
    with opened_store() as (_settings, store):
        run_command(
            lambda: create_dataset(
                store,
                SchemaRegistry.packaged(),
                org,
                dataset_id,
                class_ref=refs[0],
                field_groups=refs[1:],
            )
        )
        typer.echo(f"dataset {dataset_id} created")


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
        created = run_command(lambda: apply_mapping(store, org, definition))
        typer.echo(f"mapping {definition.id} {'created' if created else 'updated'}")


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
