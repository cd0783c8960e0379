"""What every command shares: the opened store, the error exit, JSON output, options."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from xdm_connector.cli.tables import Column, print_rows
from xdm_connector.errors import XdmcError

if TYPE_CHECKING:
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

OrgOption = Annotated[str, typer.Option("--org", help="The organization.")]
FdOption = Annotated[
    int | None,
    typer.Option(
        "--fd",
        min=0,
        help="Serve the TCP socket inherited as this file descriptor, bound by the "
        "process that started this one, instead of binding --host and --port.",
    ),
]
"""A server command's ``--fd``: the socket to serve instead of an address to bind."""


def check_fd_alone(fd: int | None, host: str | None, port: int | None) -> None:
    """A usage error when ``--fd`` is given with ``--host`` or ``--port``."""
    if fd is not None and (host is not None or port is not None):
        raise typer.BadParameter("give --fd, or --host and --port, not both", param_hint="--fd")


T = TypeVar("T")


def configure_logging(settings: Settings) -> None:
    """Logs to standard error, one line per event (JSON unless ``XDMC_LOG_FORMAT=text``)."""
    from xdm_connector import logs

    logs.configure_logging(settings.log_level, settings.log_format)


@contextmanager
def opened_store() -> Iterator[tuple[Settings, Store]]:
    """The settings and a migrated store, closed after the command; errors exit 1."""
    # Imported by the commands that open the store, not by every command (``--help``).
    from xdm_connector.settings import Settings
    from xdm_connector.sources.product_data import ProductData
    from xdm_connector.store.store import Store

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url, product_data=ProductData.of(settings))
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


def print_organization_rows(
    org: str,
    columns: Sequence[Column],
    rows_of: Callable[[Store], Iterable[Sequence[Any]]],
    *,
    as_json: bool,
) -> None:
    """Print the rows ``rows_of`` reads from the opened store, once the organization ``org``
    is known (an unknown one exits 1)."""
    with opened_store() as (_settings, store):
        run_command(lambda: store.tenants.get_organization(org))
        print_rows(columns, rows_of(store), as_json=as_json)


def echo_json(document: Any) -> None:
    """Print a JSON document on standard output."""
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def operator() -> str:
    """The audit trail's name for whoever runs the command."""
    from xdm_connector.security.audit import operator_actor

    return operator_actor()


def safe_url(url: str) -> str:
    """``url`` with its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file; ``InvalidInput`` when it is not one."""
    from xdm_connector.errors import InvalidInput

    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read a JSON object from {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{path} must hold a JSON object")
    return document
