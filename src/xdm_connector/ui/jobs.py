""" "Status of data export to platform" and the page of one job, with Cancel.

The status page lists one row per export job, newest first: Mapping (label and id),
BatchId, Status, Number of records, Reason, Start Time, End Time; it filters by mapping
and status, pages through long histories (``?page=2``), and refreshes itself while a job
it may show runs (``refresh.js``; a ``<meta http-equiv="refresh">`` without JavaScript).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from xdm_connector.api.deps import DestinationsDep, StoreDep
from xdm_connector.api.request_inputs import store_integer
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import Conflict
from xdm_connector.inputs import STORE_INTEGERS
from xdm_connector.security.roles import ROLE_SQL
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.services.job_history import (
    DEFAULT_PAGE_SIZE,
    failure_cause,
    job_history,
    organization_job,
)
from xdm_connector.ui.sessions import Notice
from xdm_connector.ui.views import (
    platform_errors,
    rejected_samples,
    source_retries,
    timeline,
    window_bounds,
)
from xdm_connector.ui.web import PosterDep, UiRoute, ViewerDep, redirect, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)

REFRESH_SECONDS = 2
STATES = [state.value for state in JobState]
MAX_PAGE = STORE_INTEGERS.stop // DEFAULT_PAGE_SIZE
"""The last page whose first row's offset a store column could count."""
JobId = Annotated[int, store_integer(Path)]


def _query(**params: object) -> str:
    kept = {key: value for key, value in params.items() if value not in (None, "", 1)}
    return f"?{urlencode(kept)}" if kept else ""


@router.get("/ui/jobs")
def jobs_page(
    request: Request,
    store: StoreDep,
    viewer: ViewerDep,
    mapping: str = "",
    status: str = "",
    page: Annotated[int, store_integer(Query, ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """One page of the organization's export jobs, filtered."""
    state = JobState(status) if status in STATES else None
    history = job_history(
        store,
        viewer.org_id,
        mapping_id=mapping or None,
        state=state,
        offset=(page - 1) * DEFAULT_PAGE_SIZE,
        limit=DEFAULT_PAGE_SIZE,
    )
    return render(
        request,
        "jobs.html",
        {
            "section": "jobs",
            "history": history,
            "mappings": store.mappings.list_for_org(viewer.org_id),
            "mapping": mapping,
            "status": state.value if state else "",
            "states": STATES,
            "refresh": REFRESH_SECONDS if history.running else 0,
            "previous": _query(mapping=mapping, status=status, page=page - 1),
            "next": _query(mapping=mapping, status=status, page=page + 1),
        },
    )


@router.get("/ui/jobs/{request_id}")
def job_page(request: Request, request_id: JobId, store: StoreDep, viewer: ViewerDep) -> Response:
    """One job (by its request id): its cause when it failed, window, counts, timeline,
    source retries, rejected and refused samples, the platform's errors."""
    row = organization_job(store, viewer.org_id, request_id)
    job = row.job
    running = JobState(job.state).in_progress
    return render(
        request,
        "job.html",
        {
            "section": "jobs",
            "job": job,
            "label": row.label,
            "running": running,
            "refresh": REFRESH_SECONDS if running else 0,
            "steps": timeline(job),
            "window": window_bounds(job),
            "retries": source_retries(job),
            "samples": rejected_samples(job),
            "errors": platform_errors(job),
            "cause": failure_cause(job),
            "cancelled_by": (job.details or {}).get("cancelledBy"),
            "warnings": (job.details or {}).get("warnings") or [],
        },
    )


@router.post("/ui/jobs/{request_id}/cancel")
def cancel(
    request: Request,
    request_id: JobId,
    store: StoreDep,
    destinations: DestinationsDep,
    viewer: PosterDep,
) -> Response:
    """Cancel the job while it runs: it ends ``Aborted``, its batch is aborted."""
    viewer.require(viewer.can_cancel, ROLE_SQL, "cancel an ingestion")
    page = f"/ui/jobs/{request_id}"
    actor = viewer.principal.client_id
    try:
        cancel_job(store, viewer.org_id, request_id, actor=actor, aborter=destinations)
    except Conflict as exc:
        return redirect(request, page, Notice("error", exc.message))
    return redirect(request, page, Notice("ok", f"Job {request_id} is cancelled."))
