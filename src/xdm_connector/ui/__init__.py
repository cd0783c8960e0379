"""The pages: data mappings, "Status of data export to platform", webhooks and datasets.

Server-rendered HTML (Jinja2), readable without JavaScript, served by the API's process::

    /                          → /ui/mappings
    /ui/signin, /ui/signout    a session over an integration's token (``sessions.py``)
    /ui/mappings               every mapping, its statuses and last job
    /ui/mappings/{id}          one mapping; Publish, Unpublish, Stop, Start, Ingest now
    /ui/new-mapping            the editor (``/ui/mappings/{id}/edit`` for an existing one)
    /ui/jobs                   one row per export job, filtered, paged, refreshed
    /ui/jobs/{id}              one job; Cancel while it runs
    /ui/webhooks               the webhooks and their latest deliveries (administrators)
    /ui/datasets               the datasets: XDM class, field groups, lake mode
    /ui/static/...             the pages' own stylesheet and scripts

None of these routes is in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from xdm_connector.settings import Settings
from xdm_connector.ui import datasets, editor, jobs, mappings, signin, webhooks
from xdm_connector.ui.sessions import KEY_FILE, Signer
from xdm_connector.ui.views import template_environment
from xdm_connector.ui.web import Ui

__all__ = ["ROUTERS", "mount_ui"]

ROUTERS = (
    signin.router,
    editor.router,
    editor.checks,
    mappings.router,
    jobs.router,
    webhooks.router,
    datasets.router,
)
"""Every router of the pages, in the order they are matched: the editor's
``/ui/new-mapping`` and ``.../edit`` come before ``/ui/mappings/{id}``."""


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Add the pages, their JSON helpers and their static files to ``app``."""
    app.state.ui = Ui(templates=template_environment(), signer=Signer(settings.home / KEY_FILE))
    for router in ROUTERS:
        app.include_router(router)
    app.mount(
        "/ui/static",
        StaticFiles(packages=[("xdm_connector.ui", "static")]),
        name="ui-static",
    )
