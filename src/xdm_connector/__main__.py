"""``python -m xdm_connector``: the same as the ``xdm-connector`` command."""

from xdm_connector.cli import main

main()
