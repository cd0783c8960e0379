"""``xdm-connector platform ...``: serve the local platform service and prepare it.

::

    xdm-connector platform clients create --ims-org ACME@AdobeOrg   # prints id and secret
    xdm-connector platform datasets create --ims-org ACME@AdobeOrg --id profiles \\
        --schema profile,profile-person-details,identitymap
    xdm-connector platform serve --port 8081 --ims-org ACME@AdobeOrg [--home DIR] [--faults]

``serve`` binds the clients created without an organization to ``--ims-org``; only an
explicit ``--any-org`` (development) lets them call for any. Every command works on the service's folder: ``--home``, else ``XDMC_PLATFORM_HOME``, else
``XDMC_HOME/platform``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from xdm_connector.cli.common import FdOption, check_fd_alone, configure_logging
from xdm_connector.errors import XdmcError

if TYPE_CHECKING:
    from xdm_connector.local_platform.storage import PlatformStorage
    from xdm_connector.settings import Settings

platform_app = typer.Typer(
    no_args_is_help=True, help="The local platform service: Experience Platform's APIs, locally."
)
clients_app = typer.Typer(no_args_is_help=True, help="API clients of the local platform service.")
datasets_app = typer.Typer(no_args_is_help=True, help="Datasets of the local platform service.")
platform_app.add_typer(clients_app, name="clients")
platform_app.add_typer(datasets_app, name="datasets")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="The service's folder (default XDMC_HOME/platform).")
]


def _settings(home: Path | None, **overrides: Any) -> Settings:
    from xdm_connector.settings import Settings

    if home is not None:
        overrides["platform_home"] = home
    return Settings(**overrides)


def _storage(home: Path | None) -> PlatformStorage:
    # Imported when used: the platform's storage imports the metadata store and Arrow.
    from xdm_connector.local_platform.storage import PlatformStorage

    return PlatformStorage(_settings(home).platform_root)


def _echo_json(document: Any) -> None:
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def _fail(exc: XdmcError) -> typer.Exit:
    typer.echo(f"error: {exc.code} {exc.message}", err=True)
    return typer.Exit(1)


@platform_app.command("serve")
def serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8081).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    home: HomeOption = None,
    ims_org: Annotated[
        str | None,
        typer.Option(
            "--ims-org",
            help="The IMS organization of the clients created without one: their tokens "
            "are refused for any other.",
        ),
    ] = None,
    any_org: Annotated[
        bool,
        typer.Option(
            "--any-org",
            help="Let the clients created without an organization call for any (development only).",
        ),
    ] = False,
    faults: Annotated[
        bool, typer.Option("--faults", help="Take failure injection at /_local/faults (tests).")
    ] = False,
    fd: FdOption = None,
) -> None:
    """Serve the local platform service until interrupted."""
    from xdm_connector.local_platform.app import SERVER_NAME, create_platform_app
    from xdm_connector.serving import inherited_socket, run_server

    check_fd_alone(fd, host, port)
    clients_org = _clients_org(ims_org, any_org)
    settings = _settings(home, **({"platform_faults": True} if faults else {}))
    configure_logging(settings)
    try:
        listening = None if fd is None else inherited_socket(fd)
    except XdmcError as exc:
        raise _fail(exc) from exc
    run_server(
        create_platform_app(settings, clients_org=clients_org),
        who=SERVER_NAME,
        host=host or DEFAULT_HOST,
        port=DEFAULT_PORT if port is None else port,
        listening=listening,
    )


def _clients_org(ims_org: str | None, any_org: bool) -> str | None:
    """The organization ``serve`` binds clients to: ``--ims-org``, or none with ``--any-org``;
    one of the two, said aloud."""
    from xdm_connector.destinations.base import check_name

    if (ims_org is None) == (not any_org):
        raise typer.BadParameter(
            "give --ims-org ORG (the clients created without an organization call for it "
            "only) or --any-org (they call for any: development only), one of the two",
            param_hint="--ims-org",
        )
    if ims_org is None:
        return None
    try:
        return check_name(ims_org, "IMS org")
    except XdmcError as exc:
        raise typer.BadParameter(exc.message, param_hint="--ims-org") from exc


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "client",
    ims_org: Annotated[
        str | None,
        typer.Option(
            "--ims-org",
            help="The IMS organization it calls for; its tokens are refused for any other. "
            "Without it, the client calls for the organization of platform serve --ims-org "
            "(for any under --any-org).",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Register an API client; prints its id and secret (the secret is shown only once)."""
    storage = _storage(home)
    try:
        client_id, secret = storage.create_client(name, ims_org)
    except XdmcError as exc:
        raise _fail(exc) from exc
    document = {"client_id": client_id, "client_secret": secret}
    _echo_json({**document, "ims_org": ims_org} if ims_org else document)


@datasets_app.command("create")
def datasets_create(
    ims_org: Annotated[str, typer.Option("--ims-org", help="The IMS organization id.")],
    dataset_id: Annotated[str, typer.Option("--id", help="Dataset id.")],
    schema: Annotated[
        list[str],
        typer.Option("--schema", help="The XDM class and field groups, comma-separated."),
    ],
    sandbox: Annotated[str, typer.Option(help="Sandbox name.")] = "prod",
    home: HomeOption = None,
) -> None:
    """Create a dataset (and its schema) from an XDM class and field groups."""
    from xdm_connector.local_platform.datasets import create_dataset_of
    from xdm_connector.xdm.registry import SchemaRegistry

    refs = [part.strip() for value in schema for part in value.split(",") if part.strip()]
    storage = _storage(home)
    try:
        dataset = create_dataset_of(
            storage, SchemaRegistry.packaged(), ims_org, sandbox.lower(), dataset_id, refs
        )
    except XdmcError as exc:
        raise _fail(exc) from exc
    _echo_json(dataset)
