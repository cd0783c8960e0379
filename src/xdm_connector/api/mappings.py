"""``/{org}/campaign/dataIngestion/xdmMapping``: data mappings, their publication and jobs.

Status codes: a created mapping 201, a deleted one 204; a publication that fails
validation 422 (its log names every problem, the mapping stays ``Draft``); an unknown
mapping (or one of another organization) 404; an existing id on create, deleting a
published mapping (or one whose export is running), starting or stopping a draft 409; an
invalid body or an unknown dataset 400; a write without the ``administration`` role 403;
no or bad token 401. Creating or publishing a mapping whose dataset another mapping uses
answers ``warnings`` (its data may be overwritten).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.types import DecoratedCallable
from pydantic import ConfigDict, Field

from xdm_connector.api.collections import (
    BASE,
    CamelModel,
    Collection,
    OrgReaderDep,
    OrgWriterDep,
    PageDep,
    administrator,
    error_responses,
    member,
    paginate,
)
from xdm_connector.api.datasets import RegistryDep
from xdm_connector.api.deps import PrincipalDep, SettingsDep, StoreDep
from xdm_connector.api.mapping_jobs import (
    JobDetail,
    JobResource,
    job_detail,
    job_resource,
)
from xdm_connector.api.request_inputs import store_integer
from xdm_connector.api.routes import collection_route, creation_route, deletion_route, item_route
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline.preview import (
    DEFAULT_PREVIEW_ROWS,
    MAX_PREVIEW_ROWS,
    Preview,
    preview_mapping,
)
from xdm_connector.services import mappings, publication
from xdm_connector.services.dataset_refresh import CatalogAccess
from xdm_connector.services.publication import ScheduleChange
from xdm_connector.store.models import Mapping, PublicationLogEntry
from xdm_connector.store.principals import Principal
from xdm_connector.store.store import Store

router = APIRouter(prefix=f"{BASE}/xdmMapping", tags=["mappings"])
ITEM = "/{mapping_id}"
ALL_JOBS = 2**31 - 1
_PATCH_EXAMPLE = {"label": "Profiles to Platform", "auditFields": ["@lastModified"]}


class MappingResource(MappingDefinition):
    """A mapping: its definition as last saved (the draft) and its state."""

    publication_status: PublicationStatus = Field(alias="publicationStatus")
    execution_status: ExecutionStatus = Field(alias="executionStatus")
    next_run_time: datetime | None = Field(alias="nextRunTime")
    published_definition: dict[str, Any] | None = Field(
        alias="publishedDefinition",
        description="The definition that runs, when it differs from the draft.",
    )
    interval: str = Field(description="Time between scheduled runs (ISO-8601), e.g. PT15M.")


class CreatedMapping(MappingResource):
    """A created mapping, with what the user should know (a dataset used by another)."""

    warnings: list[str]


class PublishRequest(CamelModel):
    """Options of a publication."""

    model_config = ConfigDict(extra="forbid")

    resend: bool = Field(default=False, description="Resend the records from the beginning.")
    start: bool = Field(default=True, description="Start the schedule, else publish stopped.")


class PublicationLine(CamelModel):
    """One line of a publication log."""

    level: str
    code: str
    message: str


class LogEntry(PublicationLine):
    """A stored line of the publication log."""

    at: datetime


class PublicationAnswer(CamelModel):
    """Whether the mapping was published, and the publication's log."""

    published: bool
    log: list[PublicationLine]
    warnings: list[str] = Field(description="The log's warnings, e.g. a shared dataset.")


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"PT{seconds}S" if rest else f"PT{minutes}M"


def _resource(mapping: Mapping) -> MappingResource:
    published = mapping.published_definition
    return MappingResource.model_validate(
        {
            **mapping.definition,
            "label": mapping.label,
            "publicationStatus": mapping.publication_status,
            "executionStatus": mapping.execution_status,
            "nextRunTime": mapping.next_run_at,
            "publishedDefinition": published if published != mapping.definition else None,
            "interval": _duration(mapping.interval_seconds),
        }
    )


def _log_entry(entry: PublicationLogEntry) -> LogEntry:
    return LogEntry(at=entry.at, level=entry.level, code=entry.code, message=entry.message)


def _save(store: Store, principal: Principal, definition: MappingDefinition) -> MappingResource:
    """Save the definition (an unknown dataset is a fault of the body: 400)."""
    mappings.apply_mapping(store, principal.org_id, definition, actor=principal.client_id)
    return _resource(store.mappings.get(principal.org_id, definition.id))


def _mapping_reader(org: str, mapping_id: str, principal: PrincipalDep) -> Principal:
    return member(principal, org, f"unknown mapping {mapping_id}")


def _mapping_writer(org: str, mapping_id: str, principal: PrincipalDep) -> Principal:
    return administrator(principal, org, f"unknown mapping {mapping_id}")


ReaderDep = Annotated[Principal, Depends(_mapping_reader)]
WriterDep = Annotated[Principal, Depends(_mapping_writer)]


@collection_route(router, "", "List the mappings", Collection[MappingResource])
def list_mappings(
    request: Request, store: StoreDep, principal: OrgReaderDep, page: PageDep
) -> Response:
    """The organization's mappings, by id, a page at a time (``_lineCount``, ``_lineStart``)."""
    return paginate(request, page, store.mappings.list_for_org(principal.org_id), _resource)


@creation_route(router, "", "Create a mapping", CreatedMapping)
def create_mapping(
    definition: MappingDefinition, store: StoreDep, principal: OrgWriterDep
) -> CreatedMapping:
    """Create a draft mapping from its definition; an existing id is a 409 (PATCH it).

    ``warnings`` names the other mappings that already write to its dataset.
    """
    saved = mappings.create_mapping(store, principal.org_id, definition, actor=principal.client_id)
    return CreatedMapping(**_resource(saved.mapping).model_dump(), warnings=saved.warnings)


@item_route(router, ITEM, "Read a mapping", MappingResource)
def get_mapping(mapping_id: str, store: StoreDep, principal: ReaderDep) -> MappingResource:
    """The mapping's draft definition, statuses, next run time and published definition."""
    return _resource(store.mappings.get(principal.org_id, mapping_id))


@router.patch(
    ITEM,
    summary="Change a mapping",
    response_model=MappingResource,
    responses=error_responses(400, 401, 403, 404),
)
def patch_mapping(
    mapping_id: str,
    changes: Annotated[
        dict[str, Any], Body(openapi_examples={"relabel": {"value": _PATCH_EXAMPLE}})
    ],
    store: StoreDep,
    principal: WriterDep,
) -> MappingResource:
    """Merge the given fields into the definition and save it.

    A published mapping keeps running its published definition until published again.
    """
    if changes.get("id", mapping_id) != mapping_id:
        raise InvalidInput("the id of a mapping cannot change")
    current = store.mappings.get(principal.org_id, mapping_id)
    definition = MappingDefinition.from_document({**current.definition, **changes})
    return _save(store, principal, definition)


@deletion_route(router, ITEM, "Delete a draft mapping", (401, 403, 404, 409))
def delete_mapping(mapping_id: str, store: StoreDep, principal: WriterDep) -> Response:
    """Delete a draft mapping with its log and jobs; a published one is a 409."""
    mappings.delete_mapping(store, principal.org_id, mapping_id, actor=principal.client_id)
    return Response(status_code=204)


@router.post(
    f"{ITEM}/publish",
    summary="Validate and publish a mapping",
    response_model=PublicationAnswer,
    responses={
        422: {"model": PublicationAnswer, "description": "Validation failed; see the log"},
        **error_responses(400, 401, 403, 404),
    },
)
def publish_mapping(
    mapping_id: str,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    schemas: RegistryDep,
    principal: WriterDep,
    options: Annotated[PublishRequest | None, Body()] = None,
) -> PublicationAnswer:
    """Validate the mapping and make its definition the running one.

    ``resend`` resets the watermark (a full re-export); ``start`` starts the schedule, else
    the mapping is published stopped, ready for API triggers. The log answers every step
    (``ACP-880066`` ... ``ACP-880092``) or every problem (``ACP-880185``). A platform
    destination is called with the process's retry policy and time limit (``XDMC_RETRY_*``,
    ``XDMC_PLATFORM_TIMEOUT_SECONDS``).
    """
    given = options.model_fields_set if options is not None else set()
    result = publication.publish_mapping_with(
        store,
        schemas,
        principal.org_id,
        mapping_id,
        CatalogAccess.from_settings(settings),
        resend=options.resend if options is not None and "resend" in given else None,
        start=options.start if options is not None and "start" in given else None,
        actor=principal.client_id,
    )
    if not result.published:
        response.status_code = 422
    return PublicationAnswer(
        published=result.published,
        log=[
            PublicationLine(level=ln.level, code=ln.code, message=ln.message) for ln in result.log
        ],
        warnings=result.warnings,
    )


def _schedule_route(action: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of one change of a mapping's lifecycle: ``POST .../{mapping_id}/<action>``."""
    return router.post(
        f"{ITEM}/{action}",
        summary=summary,
        response_model=MappingResource,
        responses=error_responses(401, 403, 404, 409),
    )


def _changed(
    change: ScheduleChange, store: Store, principal: Principal, mapping_id: str
) -> MappingResource:
    """The mapping after ``change``, made by the caller's integration."""
    return _resource(change(store, principal.org_id, mapping_id, actor=principal.client_id))


@_schedule_route("unpublish", "Unpublish a mapping")
def unpublish_mapping(mapping_id: str, store: StoreDep, principal: WriterDep) -> MappingResource:
    """Take the mapping back to Draft: it no longer runs."""
    return _changed(publication.unpublish_mapping, store, principal, mapping_id)


@_schedule_route("start", "Start a mapping's schedule")
def start_mapping(mapping_id: str, store: StoreDep, principal: WriterDep) -> MappingResource:
    """Start a published mapping's schedule; its first run is due at once."""
    return _changed(publication.start_mapping, store, principal, mapping_id)


@_schedule_route("stop", "Stop a mapping's schedule")
def stop_mapping(mapping_id: str, store: StoreDep, principal: WriterDep) -> MappingResource:
    """Stop a published mapping's schedule; it can then be triggered through the API."""
    return _changed(publication.stop_mapping, store, principal, mapping_id)


@collection_route(router, f"{ITEM}/log", "Read a mapping's publication log", Collection[LogEntry])
def publication_log(
    request: Request, mapping_id: str, store: StoreDep, principal: ReaderDep, page: PageDep
) -> Response:
    """The lines of every publication of the mapping, oldest first."""
    log = store.mappings.publication_log(principal.org_id, mapping_id)
    return paginate(request, page, log, _log_entry)


@collection_route(router, f"{ITEM}/jobs", "List a mapping's export jobs", Collection[JobResource])
def list_jobs(
    request: Request, mapping_id: str, store: StoreDep, principal: ReaderDep, page: PageDep
) -> Response:
    """The mapping's export jobs, newest first, with their states, counts and reasons."""
    store.mappings.get(principal.org_id, mapping_id)
    jobs = store.jobs.list_for_mapping(principal.org_id, mapping_id, limit=ALL_JOBS)
    return paginate(request, page, jobs, job_resource)


@item_route(router, f"{ITEM}/jobs/{{job_id}}", "Read one export job", JobDetail)
def get_job(
    mapping_id: str,
    job_id: Annotated[int, store_integer(Path)],
    store: StoreDep,
    principal: ReaderDep,
) -> JobDetail:
    """One export job of the mapping, by its id (the ``requestId``, numbered within the
    organization): its window, records read, ingested and rejected, the timeline of its
    states (created, started, uploaded, ended), how often its source was read again after
    a transient error and why, samples of the rejected records (key, XDM path, value,
    reason), the destination's errors, and the key ranges of a job cut into slices with
    the worker of each."""
    job = store.jobs.get(principal.org_id, mapping_id, job_id)
    return job_detail(job, store.slices.of_job(job.id))


@router.get(
    f"{ITEM}/preview",
    summary="Preview a mapping's records",
    response_model=Preview,
    responses=error_responses(400, 401, 404, 409),
)
def preview(
    mapping_id: str,
    store: StoreDep,
    schemas: RegistryDep,
    principal: ReaderDep,
    limit: Annotated[
        int, store_integer(Query, ge=1, le=MAX_PREVIEW_ROWS, description="Rows to read.")
    ] = DEFAULT_PREVIEW_ROWS,
    published: Annotated[
        bool, Query(description="Preview the published definition, not the draft.")
    ] = False,
) -> Preview:
    """A dry run: the first ``limit`` source rows in key order, each with its XDM record
    (``null`` when a value does not convert) and its errors (``path``, ``value``,
    ``reason``). A definition that does not compile answers its ``problems`` and no
    records. Nothing is exported, no job is created, the watermark is untouched.
    """
    return preview_mapping(
        store, schemas, principal.org_id, mapping_id, limit=limit, use_draft=not published
    )
