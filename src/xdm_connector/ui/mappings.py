"""The data mappings pages: the list, one mapping, and its lifecycle buttons.

Buttons follow the viewer's roles and the mapping's state: Publish, Unpublish, Stop,
Start and Edit need ``administration``; Ingest now needs ``sql`` and a published, stopped
mapping. The POST routes check the same rights (403 otherwise) and the CSRF token, call
the service the API calls (which writes the same audit entries, as the viewer's
integration), and come back with a notice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from xdm_connector.api import ingestion_contract
from xdm_connector.api.datasets import RegistryDep
from xdm_connector.api.deps import SettingsDep, StoreDep
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.errors import Conflict
from xdm_connector.security.roles import ROLE_ADMINISTRATION, ROLE_SQL
from xdm_connector.services import publication
from xdm_connector.services.dataset_refresh import CatalogAccess
from xdm_connector.services.job_history import latest_jobs
from xdm_connector.services.publication import ScheduleChange
from xdm_connector.store.store import Store
from xdm_connector.ui.sessions import Notice
from xdm_connector.ui.web import PosterDep, UiRoute, Viewer, ViewerDep, redirect, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)

LOG_LINES = 40
RECENT_JOBS = 10
CHANGE = "change the organization's mappings"


def _page(mapping_id: str) -> str:
    return f"/ui/mappings/{mapping_id}"


@router.get("/ui/mappings")
def mappings_page(request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    """Every mapping of the organization with its statuses and its last job."""
    mappings = store.mappings.list_for_org(viewer.org_id)
    return render(
        request,
        "mappings.html",
        {
            "section": "mappings",
            "mappings": mappings,
            "last_jobs": latest_jobs(store, viewer.org_id),
        },
    )


def mapping_page(
    request: Request,
    store: Store,
    viewer: Viewer,
    mapping_id: str,
    *,
    failure: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    """One mapping: summary, field mappings, publication log, recent jobs, buttons.

    ``failure`` is the log of a publication that just failed validation, shown on top.
    """
    mapping = store.mappings.get(viewer.org_id, mapping_id)
    log = store.mappings.publication_log(viewer.org_id, mapping_id)
    jobs = store.jobs.list_for_mapping(viewer.org_id, mapping_id, limit=RECENT_JOBS)
    published = mapping.publication_status == PublicationStatus.PUBLISHED
    stopped = mapping.execution_status == ExecutionStatus.STOPPED
    return render(
        request,
        "mapping.html",
        {
            "section": "mappings",
            "mapping": mapping,
            "definition": mapping.definition,
            "draft_differs": published and mapping.published_definition != mapping.definition,
            "log": log[-LOG_LINES:],
            "log_total": len(log),
            "jobs": jobs,
            "published": published,
            "stopped": stopped,
            "running": any(JobState(job.state).in_progress for job in jobs),
            "failure": failure or [],
        },
        status_code=status_code,
    )


@router.get("/ui/mappings/{mapping_id}")
def show_mapping(request: Request, mapping_id: str, store: StoreDep, viewer: ViewerDep) -> Response:
    """The page of one mapping."""
    return mapping_page(request, store, viewer, mapping_id)


@router.post("/ui/mappings/{mapping_id}/publish")
def publish(
    request: Request,
    mapping_id: str,
    store: StoreDep,
    settings: SettingsDep,
    schemas: RegistryDep,
    viewer: PosterDep,
    resend: Annotated[str, Form()] = "no",
    start: Annotated[str, Form()] = "",
) -> Response:
    """Validate and publish; "resend the records from the beginning" resets the watermark."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, CHANGE)
    access = CatalogAccess.from_settings(settings)
    result = publication.publish_mapping_with(
        store,
        schemas,
        viewer.org_id,
        mapping_id,
        access,
        resend=resend == "yes",
        start=start == "on",
        actor=viewer.principal.client_id,
    )
    if not result.published:
        failure = [f"{line.code} {line.message}" for line in result.log if line.level == "error"]
        return mapping_page(request, store, viewer, mapping_id, failure=failure, status_code=422)
    text = " ".join([f"Mapping {mapping_id} is published.", *result.warnings])
    return redirect(request, _page(mapping_id), Notice("ok", text))


def _lifecycle(
    request: Request,
    store: Store,
    viewer: Viewer,
    mapping_id: str,
    change: ScheduleChange,
    done: str,
) -> Response:
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, CHANGE)
    try:
        change(store, viewer.org_id, mapping_id, actor=viewer.principal.client_id)
    except Conflict as exc:
        return redirect(request, _page(mapping_id), Notice("error", exc.message))
    return redirect(request, _page(mapping_id), Notice("ok", f"Mapping {mapping_id} is {done}."))


# The schedule changes a mapping's page posts: the path's last segment (the route's name),
# the change, and what the notice then says the mapping is.
_SCHEDULE_CHANGES: tuple[tuple[str, ScheduleChange, str], ...] = (
    ("unpublish", publication.unpublish_mapping, "unpublished: it is a draft again"),
    ("stop", publication.stop_mapping, "stopped"),
    ("start", publication.start_mapping, "started: its first run is due now"),
)


def _schedule_route(change: ScheduleChange, done: str) -> Callable[..., Response]:
    def change_schedule(
        request: Request, mapping_id: str, store: StoreDep, viewer: PosterDep
    ) -> Response:
        """Unpublish the mapping, or stop or start its schedule."""
        return _lifecycle(request, store, viewer, mapping_id, change, done)

    return change_schedule


for _action, _change, _done in _SCHEDULE_CHANGES:
    router.post(f"/ui/mappings/{{mapping_id}}/{_action}", name=_action)(
        _schedule_route(_change, _done)
    )


@router.post("/ui/mappings/{mapping_id}/ingest")
def ingest_now(request: Request, mapping_id: str, store: StoreDep, viewer: PosterDep) -> Response:
    """Submit an immediate ingestion, as the API's trigger does; then follow its job."""
    viewer.require(viewer.can_trigger, ROLE_SQL, "trigger an ingestion")
    store.mappings.get(viewer.org_id, mapping_id)
    answer = ingestion_contract.trigger(
        store, viewer.org_id, mapping_id, actor=viewer.principal.client_id
    )
    info = str(answer.body["info"])
    if answer.status_code != 200:
        return redirect(request, _page(mapping_id), Notice("error", info))
    request_id = answer.body["requestId"]
    notice = Notice("ok", f"{info} (request {request_id}).")
    return redirect(request, f"/ui/jobs?{urlencode({'mapping': mapping_id})}", notice)
