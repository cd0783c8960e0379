"""A mapping's publication and schedule: publish (validating, with the original's log),
unpublish, stop, start.

Publishing a mapping whose dataset another mapping of the organization already writes to
is allowed, but warned about in its log (``services/mappings.py``).

When the organization delivers to a platform, publication gets the dataset and its XDM
schema from the platform (``services/dataset_refresh.py``), validates the mapping
against that schema, and, once published, keeps the refreshed description on the dataset.
A dataset or schema the platform cannot give fails the publication (``ACP-880071``,
``ACP-880074``) and changes nothing.

Each change is written to the audit trail as ``actor``'s ``publish``, ``unpublish``,
``start`` or ``stop``, in the change's own transaction; a publication that fails
validation changes nothing and writes only its log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Unpack

from xdm_connector.destinations.aep.catalog import open_catalog
from xdm_connector.destinations.config import PlatformConfig, parse_destination
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.mapping_status import ExecutionStatus
from xdm_connector.errors import InvalidInput, NotFound, SourceError
from xdm_connector.pipeline.plan import (
    MappingInvalid,
    Problem,
    describe_targeting_dimension,
    plan_export,
)
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.services.dataset_refresh import (
    CatalogAccess,
    RefreshFailed,
    get_dataset,
    get_schema,
    refreshed_spec,
    save_dataset_spec,
)
from xdm_connector.services.mappings import dataset_warnings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.mappings import LogLine
from xdm_connector.store.models import Dataset, Mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry

VALIDATION_FAILED = LogLine(
    "error",
    "ACP-880185",
    "Mapping validation has failed. Please check the error in the logs and change the "
    "mapping accordingly.",
)


@dataclass(frozen=True)
class PublicationResult:
    """Whether a publication went through, and its log lines."""

    published: bool
    log: list[LogLine]

    @property
    def warnings(self) -> list[str]:
        """The messages of the log's warnings (a dataset shared with another mapping)."""
        return [line.message for line in self.log if line.level == "warning"]


class PublishOptions(TypedDict, total=False):
    """The options of a publication, as ``publish_mapping_with`` takes and defaults them."""

    resend: bool | None
    start: bool | None
    actor: str


def publish_mapping(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    mapping_id: str,
    **options: Unpack[PublishOptions],
) -> PublicationResult:
    """Validate the mapping's definition and make it the running one.

    ``resend`` resets the watermark (the next export starts from the beginning); ``start``
    starts the schedule, else the mapping is published stopped (ready for API triggers).
    Either left ``None`` takes its default (no resend; start) and is not named in the
    audit entry's details, which hold the options the caller gave.
    A mapping that fails validation is unchanged and its log names every problem. A
    platform destination is called with the default retry policy, bounded in time
    (``publish_mapping_with`` takes the process's own).
    """
    access = CatalogAccess.from_settings(None)
    return publish_mapping_with(store, registry, org_id, mapping_id, access, **options)


def publish_mapping_with(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    mapping_id: str,
    access: CatalogAccess,
    *,
    resend: bool | None = None,
    start: bool | None = None,
    actor: str = OPERATOR,
) -> PublicationResult:
    """``publish_mapping``, calling a platform destination as ``access`` says::

    publish_mapping_with(store, registry, "acme", "XDM44",
                         CatalogAccess.from_settings(settings), start=False)
    """
    mapping = store.mappings.get(org_id, mapping_id)
    log = [LogLine("info", "ACP-880066", "Starting Mapping validation")]
    checked = _validate(store, registry, org_id, mapping, log, access)
    if checked.problems:
        log.extend(LogLine("error", problem.code, problem.message) for problem in checked.problems)
        log.append(VALIDATION_FAILED)
        store.mappings.log_failed_publication(org_id, mapping_id, log)
        return PublicationResult(published=False, log=log)
    log.append(LogLine("info", "ACP-880090", "Publishing and sending mapping to queue"))
    log.append(LogLine("info", "ACP-880092", "Mapping is published and mapping job is created"))
    interval_minutes = MappingDefinition.from_document(mapping.definition).interval_minutes
    given = {"resend": resend, "start": start}
    options = {name: value for name, value in given.items() if value is not None}
    with store.atomic():
        if checked.refreshed is not None:
            # With the publication: its first run uses the schema it was validated with.
            save_dataset_spec(store, org_id, checked.dataset_id, checked.refreshed)
        store.mappings.publish(
            org_id,
            mapping_id,
            definition=mapping.definition,
            interval_seconds=interval_minutes * 60,
            resend=bool(resend),
            start=start is not False,
            log=log,
        )
        store.tenants.audit.record(org_id, actor, AuditAction.PUBLISH, mapping_id, options or None)
    return PublicationResult(published=True, log=log)


class ScheduleChange(Protocol):
    """``unpublish_mapping``, ``start_mapping`` or ``stop_mapping``, for a caller that
    offers the three alike."""

    def __call__(self, store: Store, org_id: str, mapping_id: str, *, actor: str) -> Mapping:
        """Change the mapping as ``actor``; answer it as it is now."""


def stop_mapping(store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR) -> Mapping:
    """Stop a published mapping's schedule; it can then be triggered through the API."""
    with store.atomic():
        mapping = store.mappings.set_execution(org_id, mapping_id, ExecutionStatus.STOPPED)
        store.tenants.audit.record(org_id, actor, AuditAction.STOP, mapping_id)
    return mapping


def start_mapping(store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR) -> Mapping:
    """Start a published mapping's schedule; its first run is due at once."""
    with store.atomic():
        mapping = store.mappings.set_execution(org_id, mapping_id, ExecutionStatus.STARTED)
        store.tenants.audit.record(org_id, actor, AuditAction.START, mapping_id)
    return mapping


def unpublish_mapping(
    store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR
) -> Mapping:
    """Take a mapping back to ``Draft``."""
    with store.atomic():
        mapping = store.mappings.unpublish(org_id, mapping_id)
        store.tenants.audit.record(org_id, actor, AuditAction.UNPUBLISH, mapping_id)
    return mapping


@dataclass
class _Checked:
    """What validation found: the problems, and the dataset's description refreshed from
    the platform when it differs from the kept one."""

    problems: list[Problem] = field(default_factory=list)
    dataset_id: str = ""
    refreshed: dict[str, Any] | None = None


def _validate(
    store: Store,
    registry: SchemaRegistry,
    org_id: str,
    mapping: Mapping,
    log: list[LogLine],
    access: CatalogAccess,
) -> _Checked:
    try:
        definition = MappingDefinition.from_document(mapping.definition)
    except InvalidInput as exc:
        return _Checked([Problem("ACP-880086", exc.message)])
    log.append(LogLine("info", "ACP-880071", "Applying rule: Get and Refresh Dataset"))
    try:
        dataset = store.tenants.get_dataset(org_id, definition.dataset)
        organization = store.tenants.get_organization(org_id)
        destination = parse_destination(organization.destination)
    except (NotFound, InvalidInput) as exc:
        return _Checked([Problem("ACP-880071", exc.message)])
    log.extend(
        LogLine("warning", "ACP-880071", warning)
        for warning in dataset_warnings(store, org_id, mapping.id, dataset.id)
    )
    checked = _Checked(dataset_id=dataset.id)
    spec = dataset.schema_spec
    if isinstance(destination, PlatformConfig):
        try:
            spec = _refresh(destination, dataset, access, log)
        except RefreshFailed as exc:
            checked.problems.append(Problem(exc.code, exc.message))
            return checked
        checked.refreshed = spec if spec != dataset.schema_spec else None
    else:
        log.append(LogLine("info", "ACP-880074", "Applying rule: Get and Refresh XDM Schema"))
    try:
        schema = dataset_schema(registry, spec)
    except InvalidInput as exc:
        on_platform = isinstance(destination, PlatformConfig)
        where = "The platform's XDM schema cannot be used: " if on_platform else ""
        checked.problems.append(Problem("ACP-880074", where + exc.message))
        return checked
    log.append(LogLine("info", "ACP-880086", "Rule applied: Check mandatory fields"))
    log.append(LogLine("info", "ACP-880087", "Applying rule: Validate ACS source paths"))
    try:
        with SourceDatabase(organization.source_url, store.product_data) as source:
            resource = describe_targeting_dimension(source, definition)
        plan_export(definition, schema, resource)
    except MappingInvalid as exc:
        checked.problems.extend(exc.problems)
        return checked
    except (SourceError, InvalidInput) as exc:
        checked.problems.append(Problem(exc.code, exc.message))
        return checked
    log.append(LogLine("info", "ACP-880089", "Rule applied: Validate ACS source paths"))
    return checked


def _refresh(
    config: PlatformConfig, dataset: Dataset, access: CatalogAccess, log: list[LogLine]
) -> dict[str, Any]:
    """The dataset's description as the platform has it (``RefreshFailed`` otherwise)."""
    with open_catalog(config, policy=access.policy, timeout=access.timeout) as catalog:
        found = get_dataset(catalog, config, dataset.id)
        log.append(
            LogLine(
                "info",
                "ACP-880071",
                f"Dataset {dataset.id}: platform dataset {found.id} {found.name!r}",
            )
        )
        log.append(LogLine("info", "ACP-880074", "Applying rule: Get and Refresh XDM Schema"))
        schema = get_schema(catalog, found)
    groups = len(schema.field_group_ids)
    log.append(
        LogLine(
            "info",
            "ACP-880074",
            f"XDM schema {schema.id} {schema.title!r}: class {schema.class_id}, "
            f"{groups} field group{'s' if groups != 1 else ''}",
        )
    )
    return refreshed_spec(dataset.schema_spec, found, schema)
