"""The ``xdm-connector`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="xdm-connector: relational records into XDM datasets.")


def main() -> None:
    """Entry point of the ``xdm-connector`` command."""
    app()
