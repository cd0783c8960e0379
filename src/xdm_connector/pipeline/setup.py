"""Job set-up: what every run of an export job starts from, the whole job or one slice.

A run first finds what its job exports (``JobContext``: the mapping as published, its
source, its dataset and the dataset's schema), then opens its organization's destination
for a work folder of its own (``running`` answers the ``JobRun``, and removes the folder
once the run ends), then reads the source through ``read``: the source opened, the
mapping planned against it (or the plan of an earlier run taken again, while a SQLite or
PostgreSQL source's schema is the same: ``plan``), the look-back started from the
mapping's watermark, and the run's own reading done there. A read that fails
transiently is tried again from the start by the one retry policy, the files of the
failed attempt discarded first (``pipeline/source_retries.py``). The whole job
(``pipeline/export.py``) and each of its slices (``pipeline/slicing.py``) are set up
here, alike::

    setup = JobSetup(store, settings)
    context = setup.context(job)
    with setup.running(job, context, control, setup.work.of_job(job)) as run:
        found = setup.read(
            run, lambda source, plan, lookback: ..., retries=control.source_retries,
            what=f"job {job.id}",
        )
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from xdm_connector.destinations.base import Destination
from xdm_connector.destinations.factory import OpenedDestination, OrgDestinations
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import ExportError, InvalidInput
from xdm_connector.pipeline.control import JobControl
from xdm_connector.pipeline.lookback import LookBack
from xdm_connector.pipeline.plan import (
    ExportPlan,
    describe_targeting_dimension,
    plan_export,
    source_schema,
)
from xdm_connector.pipeline.source_retries import SourceRetries, read_with_retries
from xdm_connector.pipeline.workfolders import WorkFolders
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.models import Job, Mapping
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

T = TypeVar("T")
SCHEMAS_KEPT = 64
"""Composed dataset schemas a set-up keeps (all are dropped when more are needed)."""
PLANS_KEPT = 64
"""Export plans a set-up keeps (all are dropped when more are needed)."""


@dataclass(frozen=True)
class JobContext:
    """What a job (or a slice of it) exports: its mapping as published, where from, where to."""

    mapping: Mapping
    definition: MappingDefinition
    source_url: str
    dataset_id: str
    schema: XedSchema
    plan_key: bytes
    """What its plan is made of besides the source: the published mapping and the
    dataset's schema description (two contexts with the same key plan alike)."""


@dataclass(frozen=True)
class JobRun:
    """One run of a job, the whole job or one slice: what it exports, the job's control,
    the folder its files are written to, and the destination they are delivered to."""

    job: Job
    context: JobContext
    control: JobControl
    workdir: Path
    opened: OpenedDestination


class JobSetup:
    """Sets up the runs of export jobs: their context, their source read, their destination
    (``destinations``) and their work folders (``work``).

    Each job delivers to its organization's destination (``destinations/factory.py``), in
    the file format that destination asks for; a ``destination`` given here serves every
    organization instead, with Parquet files (tests).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        registry: SchemaRegistry | None = None,
        destination: Destination | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.registry = registry or SchemaRegistry.packaged()
        self.destinations = OrgDestinations(store, settings, override=destination)
        self.work = WorkFolders(settings.home)
        # Composing a schema costs more than a small delta's whole read: composed once per
        # stored description (the registry is fixed; a schema is read-only).
        self._schemas: dict[bytes, XedSchema] = {}
        # Reflecting the source and compiling the mapping cost more than a small delta's
        # read: a plan is kept per source and ``plan_key`` with the source's schema it was
        # made against, and made again once that schema reads otherwise.
        self._plans: dict[tuple[sa.URL, bytes], tuple[str, ExportPlan]] = {}

    def context(self, job: Job) -> JobContext:
        """What ``job`` exports: its mapping as published, its source and its dataset."""
        mapping = self.store.mappings.get(job.org_id, job.mapping_id)
        if mapping.published_definition is None:
            raise ExportError("the mapping is not published", code="ACP-880185")
        definition = MappingDefinition.from_document(mapping.published_definition)
        organization = self.store.tenants.get_organization(job.org_id)
        dataset = self.store.tenants.get_dataset(job.org_id, definition.dataset)
        described = orjson.dumps(dataset.schema_spec, option=orjson.OPT_SORT_KEYS)
        schema = self._schema(described, dataset.schema_spec)
        published = orjson.dumps(mapping.published_definition, option=orjson.OPT_SORT_KEYS)
        return JobContext(
            mapping,
            definition,
            organization.source_url,
            dataset.id,
            schema,
            plan_key=published + b"\n" + described,
        )

    def _schema(self, described: bytes, spec: dict[str, Any]) -> XedSchema:
        schema = self._schemas.get(described)
        if schema is None:
            if len(self._schemas) >= SCHEMAS_KEPT:
                self._schemas.clear()
            schema = self._schemas[described] = dataset_schema(self.registry, spec)
        return schema

    def plan(self, source: SourceDatabase, context: JobContext) -> ExportPlan:
        """The job's mapping compiled against its source (``ACP-880185`` if it no longer
        fits: a table, view or column gone).

        The plan made for an earlier run of the same mapping and dataset on the same source
        serves again while the source's whole schema (``source_schema``) reads as it did
        before that plan was made; a source without such a schema is planned every time.
        """
        # Read before reflecting: a change in between makes the next run plan again.
        schema_now = source_schema(source)
        key = (source.url, context.plan_key)
        kept = self._plans.get(key) if schema_now is not None else None
        if kept is not None and kept[0] == schema_now:
            return kept[1]
        try:
            resource = describe_targeting_dimension(source, context.definition)
            plan = plan_export(context.definition, context.schema, resource)
        except InvalidInput as exc:
            self._plans.pop(key, None)
            raise ExportError(exc.message, code="ACP-880185") from exc
        if schema_now is not None:
            if len(self._plans) >= PLANS_KEPT and key not in self._plans:
                self._plans.clear()
            self._plans[key] = (schema_now, plan)
        return plan

    @contextmanager
    def running(
        self, job: Job, context: JobContext, control: JobControl, workdir: Path
    ) -> Iterator[JobRun]:
        """A run of ``job`` writing under ``workdir``, its organization's destination open;
        the destination is closed and the folder removed once the run ends."""
        try:
            with self.destinations.open(job.org_id) as opened:
                yield JobRun(job, context, control, workdir, opened)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def read(
        self,
        run: JobRun,
        body: Callable[[SourceDatabase, ExportPlan, LookBack], T],
        *,
        retries: SourceRetries,
        what: str,
    ) -> T:
        """``body`` run on the job's source, with the mapping planned against it and the
        look-back started; the whole tried again from the start while the source fails
        transiently, what the failed attempt wrote under the run's folder removed first,
        each retry counted in ``retries``."""
        context = run.context

        def attempt() -> T:
            with SourceDatabase(context.source_url, self.store.product_data) as source:
                source.connect_ahead()  # the read's connection opens while the job plans
                plan = self.plan(source, context)
                lookback = LookBack.start(
                    context.mapping.watermark,
                    seconds=self.settings.lookback_seconds,
                    max_keys=self.settings.lookback_max_keys,
                )
                return body(source, plan, lookback)

        return read_with_retries(
            attempt,
            policy=self.settings.retry_policy(),
            control=run.control,
            retries=retries,
            discard=lambda: shutil.rmtree(run.workdir, ignore_errors=True),
            what=what,
        )
